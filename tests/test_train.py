"""Step 3 on CPU with a shrunk model config: checkpoints, resume, kills, corrupt files, overfitting, DDP, export."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rvc import models as M
from rvc.core.errors import ExperimentBusyError, IncompleteStepError
from rvc.core.experiment import ExperimentConfig, create_or_open, open_experiment
from rvc.core.locking import experiment_lock
from rvc.models import checkpoint as C
from rvc.steps.train import loop as T
from rvc.steps.train import step as S
from rvc.steps.train.config import TrainConfig
from rvc.steps.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parent.parent


def cfg(tmp_path, **kw):
    base = dict(epochs=2, batch_size=2, save_every=1, no_pretrained=True, device="cpu", log_every=1, no_eval=True)
    base.update(weights_dir=tmp_path / "weights", discriminator_scale=0.25)  # a narrow D keeps CPU steps short
    return TrainConfig(**{**base, **kw})


def test_a_few_steps_write_reference_checkpoints(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    seen = []
    result = T.train(exp, cfg(tmp_path), on_progress=seen.append)
    assert result.started_from == "scratch" and any("from scratch" in w for w in result.warnings)
    assert result.epoch == 2 and result.step == seen[-1].detail.step > 2
    g = torch.load(result.checkpoint, weights_only=True)
    assert {"model", "iteration", "optimizer", "learning_rate"} <= set(g) and g["iteration"] == 2
    assert any(k.startswith("enc_q.") for k in g["model"])  # the training checkpoint keeps the posterior encoder
    assert result.checkpoint.name == f"G_{result.step}.pth" and (exp.paths.root / f"D_{result.step}.pth").exists()
    rows = read_metrics(exp.paths.root)
    assert [r["step"] for r in rows] == list(range(1, result.step + 1))
    for r in rows:
        assert all(np.isfinite(r[k]) for k in ("loss_d", "loss_g", "loss_mel", "loss_kl", "loss_fm", "grad_norm_g"))
        assert r["sec_per_step"] > 0 and r["lr"] > 0
    assert list(exp.paths.root.glob("events.out.tfevents.*"))
    lines = (exp.paths.root / "filelist.txt").read_text().splitlines()
    assert sum("mute" in line for line in lines) == 2 and all(len(line.split("|")) == 5 for line in lines)
    small = torch.load(result.small_model, weights_only=True)
    assert result.small_model == (tmp_path / "weights" / "voice.pth").resolve() and small["info"].startswith("2epoch ")
    assert small["epoch"] == 2 and small["step"] == 8
    assert small["sr"] == "40k" and small["f0"] == 1 and small["version"] == "v2" and len(small["config"]) == 18
    assert isinstance(M.load_generator(result.small_model), M.Synthesizer)


def test_resume_continues_steps_and_epochs(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    first = T.train(exp, cfg(tmp_path, epochs=1))
    second = T.train(exp, cfg(tmp_path, epochs=2))
    assert second.started_from == f"resumed from G_{first.step}.pth"
    rows = read_metrics(exp.paths.root)
    epochs = [r["epoch"] for r in rows]
    assert epochs.count(1) == first.step and set(epochs) == {1, 2}  # epoch 1 is not repeated
    assert [r["step"] for r in rows] == list(range(1, second.step + 1))


def test_stop_saves_and_latest_only(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    import threading

    stop = threading.Event()
    r = T.train(
        exp,
        cfg(tmp_path, epochs=5, latest_only=True),
        on_progress=lambda p: stop.set() if p.detail.step == 3 else None,
        stop=stop,
    )
    assert r.stopped and r.step == 3 and r.checkpoint.name == "G_2333333.pth"
    assert torch.load(r.checkpoint, weights_only=True)["step"] == 3
    again = T.train(exp, cfg(tmp_path, epochs=1, latest_only=True))  # epoch 1 was cut: it is redone
    assert again.started_from == "resumed from G_2333333.pth" and again.step > 3


def test_corrupt_newest_checkpoint_is_skipped(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    first = T.train(exp, cfg(tmp_path, epochs=1))
    (exp.paths.root / f"G_{first.step + 50}.pth").write_bytes(b"garbage")
    (exp.paths.root / f"D_{first.step + 50}.pth").write_bytes(b"garbage")
    os.utime(exp.paths.root / f"G_{first.step + 50}.pth")
    r = T.train(exp, cfg(tmp_path, epochs=2))
    assert r.started_from == f"resumed from G_{first.step}.pth"
    assert any("damaged" in w for w in r.warnings)


KILL_DURING_SAVE = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from rvc.steps.train import loop as train
from rvc.steps.train.config import TrainConfig
from rvc.core.experiment import open_experiment
real = os.replace  # every atomic writer renames through it
count = [0]
def dying(a, b):
    if Path(str(b)).name.startswith("G_"):
        count[0] += 1
        if count[0] == 2:  # the second G save: its temporary file is written, the rename never happens
            os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
os.replace = dying
exp = open_experiment("voice", Path({logs!r}))
train.train(exp, TrainConfig(epochs=3, batch_size=2, save_every=1, no_pretrained=True, device="cpu", weights_dir=Path({weights!r}), discriminator_scale=0.25))
"""


def test_kill_9_during_a_save_leaves_a_resumable_state(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    code = KILL_DURING_SAVE.format(root=str(ROOT), logs=str(exp.paths.root.parent), weights=str(tmp_path / "w"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pairs = C.checkpoint_pairs(exp.paths.root)
    assert len(pairs) == 1 and C.load_checkpoint(pairs[0][0])["iteration"] == 1
    r = T.train(exp, cfg(tmp_path, epochs=2))
    assert r.started_from == f"resumed from {pairs[0][0].name}" and r.epoch == 2


def test_overfit_lowers_mel_loss(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    hps = json.loads(exp.paths.config.read_text())
    hps["train"]["learning_rate"] = 3e-3  # a tiny model from scratch: a larger step than the reference's 1e-4
    exp.paths.config.write_text(json.dumps(hps))
    exp = open_experiment("voice", exp.paths.root.parent)
    r = T.train(exp, cfg(tmp_path, epochs=1000, max_steps=60, save_every=1000))  # mel 184 -> 74 here
    rows = read_metrics(exp.paths.root)
    first = np.mean([x["loss_mel"] for x in rows[:5]])
    last = np.mean([x["loss_mel"] for x in rows[-5:]])
    assert r.step == 60 and last <= 0.7 * first, (first, last)


def test_without_pitch_and_v1(tmp_path, tiny_experiment):
    exp = tiny_experiment(name="plain", use_f0=False, version="v1")
    r = T.train(exp, cfg(tmp_path, epochs=1))
    g = M.load_generator(r.small_model)
    assert not g.cfg.f0 and g.cfg.version == "v1"


def test_pretrained_must_fit(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    wrong = M.Synthesizer(
        M.SynthesizerConfig.from_hparams(
            {**exp.model_config, "model": {**exp.model_config["model"], "hidden_channels": 24}}, "v2", True
        )
    )
    torch.save({"model": wrong.state_dict()}, tmp_path / "f0G40k.pth")
    d = M.MultiPeriodDiscriminator("v1", 0.25)
    torch.save({"model": d.state_dict()}, tmp_path / "f0D40k.pth")
    with pytest.raises(M.ModelFileError, match="pretrained generator does not match .*shape mismatches"):
        T.train(
            exp,
            cfg(
                tmp_path,
                no_pretrained=False,
                pretrained_g=tmp_path / "f0G40k.pth",
                pretrained_d=tmp_path / "f0D40k.pth",
            ),
        )
    # a matching pair (another experiment's checkpoint) is taken
    first = T.train(exp, cfg(tmp_path, epochs=1))
    other = tiny_experiment(name="other")
    r = T.train(
        other,
        cfg(
            tmp_path,
            epochs=1,
            no_pretrained=False,
            pretrained_g=first.checkpoint,
            pretrained_d=first.checkpoint.with_name("D_" + first.checkpoint.name[2:]),
        ),
    )
    assert r.started_from.startswith("pretrained G_")


def test_bad_inputs(tmp_path, tiny_experiment):
    bare, _ = create_or_open(ExperimentConfig("bare"), tmp_path / "logs2")
    with pytest.raises(IncompleteStepError, match="run Step 2b"):
        T.train(bare, cfg(tmp_path))
    exp = tiny_experiment()
    with experiment_lock(exp.paths.lock, "preprocessing"):
        with pytest.raises(ExperimentBusyError, match="preprocessing is running"):
            T.train(exp, cfg(tmp_path))
    with pytest.raises(Exception, match="no CUDA GPU"):
        T.train(exp, cfg(tmp_path, device="cuda"))
    with pytest.raises(Exception, match="no checkpoint to export"):
        T.export(exp)


def test_export_round_trip(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    r = T.train(exp, cfg(tmp_path, epochs=1))
    out = T.export(exp, out=tmp_path / "mine.pth")
    from_ckpt, exported = M.load_generator(r.checkpoint), M.load_generator(out)
    phone = torch.randn(1, 50, 768)
    args = (torch.full((1, 50), 60), torch.full((1, 50), 220.0), torch.zeros(1, dtype=torch.long))
    torch.manual_seed(0)
    a = from_ckpt.infer(phone, torch.tensor([50]), *args)[0]
    torch.manual_seed(0)
    b = exported.infer(phone, torch.tensor([50]), *args)[0]
    assert a.shape == b.shape == (1, 1, 50 * 400) and torch.allclose(a, b, atol=2e-2)


def test_ddp_two_processes_on_cpu(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # --standalone: the rendezvous picks its own free port (a port probed here could be taken before it is used)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "rvc", "train", "voice", "--logs-dir", str(exp.paths.root.parent)]
    cmd += [
        "--max-steps",
        "2",
        "--batch-size",
        "1",
        "--no-pretrained",
        "--device",
        "cpu",
        "--discriminator-scale",
        "0.25",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (exp.paths.root / "G_2.pth").exists()
    assert torch.load(exp.paths.root / "G_2.pth", weights_only=True)["step"] == 2
    assert r.stderr.count("done: epoch") == 2  # both ranks ran to the end


def test_cli_train_and_export(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "rvc"]
    logs = ["--logs-dir", str(exp.paths.root.parent)]
    args = ["--epochs", "1", "--batch-size", "2", "--no-pretrained", "--device", "cpu", "--discriminator-scale", "0.25"]
    r = subprocess.run(
        [*base, "train", "voice", *args, "--json", *logs], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["epoch"] == 1 and Path(out["small_model"]).is_file() and "epoch 1/1" in r.stderr
    r = subprocess.run(
        [*base, "export", "voice", "--out", str(tmp_path / "x.pth"), *logs],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and (tmp_path / "x.pth").is_file()
    r = subprocess.run(
        [*base, "train", "voice", "--precision", "fp16", "--device", "cpu", *logs],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 1 and "fp16 needs a CUDA GPU" in r.stderr


def test_out_of_memory_names_the_batch_size_that_fits(tmp_path, tiny_experiment, monkeypatch):
    # a GPU that holds at most 2 items per step, simulated: any step on more raises the CUDA OOM error
    real = S.train_step

    def limited(s, batch, probe=False):
        if batch[0].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(s, batch, probe)

    exp = tiny_experiment()
    first = T.train(exp, cfg(tmp_path, epochs=1, batch_size=2))
    monkeypatch.setattr(S, "train_step", limited)
    with pytest.raises(Exception, match=r"out of memory at batch size 8; batch size 2 fits \(measured") as e:
        T.train(exp, cfg(tmp_path, epochs=3, batch_size=8))
    assert "resumes from it" in str(e.value)
    before = {k: v.clone() for k, v in torch.load(first.checkpoint, weights_only=True)["model"].items()}
    r = T.train(exp, cfg(tmp_path, epochs=2, batch_size=2))  # the suggested size: resumes from the kept checkpoint
    assert r.started_from == f"resumed from {first.checkpoint.name}"
    assert all(torch.equal(before[k], v) for k, v in torch.load(first.checkpoint, weights_only=True)["model"].items())


def test_compiled_training_keeps_the_numbers_and_the_file_format(tmp_path, tiny_experiment, monkeypatch):
    # The captured graphs (forward and backward of the decoder and the discriminator) run through eager kernels
    # ("aot_eager"): inductor's code generation would take minutes on CPU, and on a GPU it generates Triton instead.
    compiled, real, graphs = {}, T.compile_fixed_shapes, []

    def compile_with_aot_eager(net_g, net_d):
        compiled.update(dec=net_g.dec, **{f"d{i}": d for i, d in enumerate(net_d.discriminators)})

        def counting(gm, example_inputs):  # aot_eager, counting the graphs dynamo hands over
            graphs.append(gm)
            return torch._dynamo.backends.registry.lookup_backend("aot_eager")(gm, example_inputs)

        real(net_g, net_d, backend=counting)

    eager = T.train(tiny_experiment("eager"), cfg(tmp_path, epochs=1, max_steps=3))
    monkeypatch.setattr(T, "compile_fixed_shapes", compile_with_aot_eager)
    exp = tiny_experiment("compiled")
    result = T.train(exp, cfg(tmp_path, epochs=1, max_steps=3, compile=True))
    assert compiled and all(m._compiled_call_impl is not None for m in compiled.values())
    assert graphs, "dynamo captured no graph: nothing was compiled"
    assert any("compiling for the CPU" in w for w in result.warnings)
    rows = {r["step"]: r for r in read_metrics(exp.paths.root)}
    ref = {r["step"]: r for r in read_metrics(tmp_path / "logs" / "eager")}
    assert sorted(rows) == sorted(ref) == [1, 2, 3]
    for step in rows:  # same seed, same data: the same losses, step by step
        for k in ("loss_d", "loss_g", "loss_mel", "loss_kl", "loss_fm", "grad_norm_g"):
            assert rows[step][k] == pytest.approx(ref[step][k], rel=1e-4, abs=1e-5), (step, k)
    a = torch.load(result.checkpoint, weights_only=True)["model"]
    b = torch.load(eager.checkpoint, weights_only=True)["model"]
    assert list(a) == list(b)  # no "_orig_mod." in the names: the checkpoint is the reference's layout
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4


def test_out_of_memory_after_the_discriminator_step_with_a_grad_scaler():
    # with fp16 the memory often runs out in the generator half, after the discriminator's optimizer stepped:
    # the probe that follows unscales again, which the scaler refuses unless its per-step state is reset
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(net.parameters())
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    scaler.scale(net(torch.ones(1, 2)).sum()).backward()
    scaler.unscale_(opt)
    scaler.step(opt)  # ... and here the generator's forward would run out of memory
    s = S.State(net, net, opt, opt, None, None, scaler, {}, True, torch.device("cpu"), None)
    S.free_memory(s)
    scaler.scale(net(torch.ones(1, 2)).sum()).backward()
    scaler.unscale_(opt)  # the probe's first call: accepted
    assert scaler.get_scale() == 65536.0


def test_resumed_optimizer_keeps_this_runs_implementation():
    # a checkpoint from a plain (CPU) run resumes fused where this run is fused, and the other way round
    net = torch.nn.Linear(2, 1)
    plain = torch.optim.AdamW(net.parameters())
    net(torch.ones(1, 2)).sum().backward()
    plain.step()
    fused = torch.optim.AdamW(net.parameters(), fused=True)
    T.load_optional(fused, T.as_implemented_here(fused, plain.state_dict()))
    assert fused.param_groups[0]["fused"] is True and fused.state[net.weight]["step"].item() == 1
    fused.step()  # the fused kernel accepts the restored state
    back = torch.optim.AdamW(net.parameters())
    T.load_optional(back, T.as_implemented_here(back, fused.state_dict()))
    assert not back.param_groups[0]["fused"] and back.state[net.weight]["step"].item() == 2


def test_loader_workers_from_a_threaded_process(tmp_path, tiny_experiment):
    # the app trains in a thread: its loader processes must not be forked from a multi-threaded process
    import threading

    exp = tiny_experiment()
    out = {}
    worker = threading.Thread(target=lambda: out.update(r=T.train(exp, cfg(tmp_path, epochs=1, num_workers=2))))
    worker.start()
    worker.join(timeout=240)
    assert out["r"].step == 4 and out["r"].checkpoint.is_file()
