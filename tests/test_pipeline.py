"""One-click training (preprocess -> extract -> train -> index -> export), its skipping and resuming; model cards
and packages; batch conversion."""

import json
import os
import pickle
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rvc.core.errors import Cancelled, ModelFileError, RvcError
from rvc.core.experiment import ExperimentConfig, create_or_open, open_experiment
from rvc.inference import convert as V
from rvc.models.package import export_package, import_package, read_card
from rvc.steps import oneclick as P
from rvc.steps.extract import ExtractConfig
from rvc.steps.train.loop import TrainConfig
from tests.conftest import TINY_MODEL
from tests.helpers import encode, espeak

ROOT = Path(__file__).resolve().parent.parent


def shrunk(logs: Path, name: str = "voice") -> ExperimentConfig:
    """Creates the experiment with a tiny model (so training is quick on CPU) and returns its choices."""
    config = ExperimentConfig(name, "40k", "v2", True)
    exp, _ = create_or_open(config, logs)
    cfg = json.loads(exp.paths.config.read_text())
    cfg["model"].update(TINY_MODEL)
    cfg["train"]["segment_size"] = 4 * cfg["data"]["hop_length"]
    exp.paths.config.write_text(json.dumps(cfg))
    return config


def run_config(tmp_path, dataset, embedder_dir, **train) -> P.RunConfig:
    # no evaluation of the saves (3.5 s each here): tests/test_browser.py runs one-click with it
    settings = dict(
        epochs=2, batch_size=2, save_every=1, no_pretrained=True, device="cpu", discriminator_scale=0.25, no_eval=True
    )
    return P.RunConfig(
        experiment=shrunk(tmp_path / "logs"),
        dataset_dir=dataset,
        extract=ExtractConfig(f0_method="pm", embedder=embedder_dir, device="cpu", workers=1),
        train=TrainConfig(**{**settings, **train}),
        weights_dir=tmp_path / "weights",
    )


def test_one_click_runs_then_skips_then_redoes_what_changed(tmp_path, dataset, embedder_dir):
    seen: list[P.Progress] = []
    cfg = run_config(tmp_path, dataset, embedder_dir)
    first = P.run(cfg, tmp_path / "logs", seen.append)
    assert [o.status for o in first.stages] == ["done"] * 5
    assert first.model.is_file() and first.index.is_file() and first.package.is_file()
    overall = [p.fraction for p in seen]  # done of total over the whole run
    assert overall == sorted(overall) and overall[-1] == pytest.approx(1.0)
    assert {p.stage for p in seen} == set(P.STAGES)

    with zipfile.ZipFile(first.package) as z:
        assert sorted(z.namelist()) == sorted([first.model.name, first.index.name])
    card = read_card(first.model)
    assert (card.sample_rate, card.version, card.f0, card.epoch) == ("40k", "v2", True, 2)
    assert card.step > 0 and card.dataset_seconds > 10 and card.info.startswith("2epoch")
    # Applio's keys, so Applio shows its card: the embedder given as a folder of its own is recorded as custom
    raw = torch.load(first.model, weights_only=True)
    assert (raw["embedder_model"], raw["vocoder"], raw["model_name"], raw["speakers_id"]) == (
        "custom",
        "HiFi-GAN",
        "voice",
        1,
    )
    assert raw["dataset_length"].count(":") == 2 and raw["creation_date"][:4].isdigit()

    again = P.run(cfg, tmp_path / "logs")
    assert [o.status for o in again.stages] == ["skipped"] * 5
    assert again.package == first.package

    more = P.run(
        P.RunConfig(**{**cfg.__dict__, "train": TrainConfig(**{**cfg.train.__dict__, "epochs": 3})}), tmp_path / "logs"
    )
    assert [o.status for o in more.stages] == ["skipped", "skipped", "done", "skipped", "done"]
    assert read_card(more.model).epoch == 3  # continued from epoch 2's checkpoint
    assert "resumed from G_" in more.stages[2].detail

    # the converted result of the packaged model and index
    out = V.convert_file(
        more.model,
        espeak("The new voice speaks.", tmp_path / "in.wav"),
        tmp_path / "out.wav",
        V.ConvertConfig(f0_method="pm", index=more.index, embedder=embedder_dir, device="cpu"),
    )
    assert out.sample_rate == 40000 and out.seconds > 0.5


def test_one_click_stopped_continues_and_new_data_moves_checkpoints_aside(tmp_path, dataset, embedder_dir):
    cfg = run_config(tmp_path, dataset, embedder_dir)
    stop = threading.Event()

    def stop_in_training(p: P.Progress) -> None:
        if p.stage == "train" and "step 2" in p.message:
            stop.set()

    with pytest.raises(Cancelled):
        P.run(cfg, tmp_path / "logs", stop_in_training, stop)
    exp = open_experiment("voice", tmp_path / "logs")
    assert list(exp.paths.root.glob("G_*.pth"))  # the stop saved a checkpoint
    resumed = P.run(cfg, tmp_path / "logs")
    assert [o.status for o in resumed.stages] == ["skipped", "skipped", "done", "done", "done"]
    assert "resumed from" in resumed.stages[2].detail

    # a new recording in the dataset: everything is redone, the old checkpoints are kept aside
    data2 = tmp_path / "data2"
    data2.mkdir()
    for f in dataset.iterdir():
        (data2 / f.name).write_bytes(f.read_bytes())
    espeak("One more recording for the data set.", data2 / "d.wav")
    redone = P.run(P.RunConfig(**{**cfg.__dict__, "dataset_dir": data2}), tmp_path / "logs")
    assert [o.status for o in redone.stages] == ["done"] * 5
    assert "scratch" in redone.stages[2].detail
    aside = list(exp.paths.root.glob("superseded-*/G_*.pth"))
    assert aside, "the earlier checkpoints must be kept"


def test_cli_run_json(tmp_path, dataset, embedder_dir):
    shrunk(tmp_path / "logs", "cli")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rvc", "run", "cli", str(dataset), "--logs-dir", str(tmp_path / "logs")]
    cmd += ["--f0-method", "pm", "--embedder", str(embedder_dir), "--device", "cpu", "--workers", "1"]
    cmd += ["--epochs", "1", "--batch-size", "2", "--no-pretrained", "--discriminator-scale", "0.25"]
    cmd += ["--weights-dir", str(tmp_path / "w"), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert Path(out["package"]).is_file() and [s["status"] for s in out["stages"]] == ["done"] * 5
    info = subprocess.run(
        [sys.executable, "-m", "rvc", "info", out["model"], "--json"], capture_output=True, text=True, env=env
    )
    assert info.returncode == 0 and json.loads(info.stdout)["epoch"] == 1


def _small_model_file(path: Path, **extra) -> Path:
    torch.save(
        {
            "weight": {"w": torch.zeros(2)},
            "config": [1] * 18,
            "info": "x",
            "sr": "40k",
            "f0": 1,
            "version": "v2",
            **extra,
        },
        path,
    )
    return path


def test_packages_import_safely(tmp_path):
    model = _small_model_file(tmp_path / "singer.pth", epoch=5, step=100)
    index = tmp_path / "added_IVF1_Flat_nprobe_1_singer_v2.index"
    index.write_bytes(b"faiss")
    zipped = export_package(model, index)
    got = import_package(zipped, tmp_path / "imported")
    assert got.model.read_bytes() == model.read_bytes() and got.index.name == index.name
    assert got.card.epoch == 5

    # what people share: nested folders; member names never used as paths
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as z:
        z.write(model, "My Voice/weights/singer.pth")
        z.write(index, "My Voice/logs/added_x.index")
    got = import_package(nested, tmp_path / "imported2")
    assert got.model == tmp_path / "imported2" / "singer.pth" and got.index == tmp_path / "imported2" / "added_x.index"
    # an entry pointing outside the folder: the archive is refused, nothing written
    for entry in ("../../outside/singer.pth", "/abs/singer.pth", "C:\\x\\singer.pth"):
        evil = tmp_path / "evil.zip"
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr(zipfile.ZipInfo(entry), model.read_bytes())  # ZipInfo keeps the name as given
        with pytest.raises(RvcError, match="points outside the folder"):
            import_package(evil, tmp_path / "imported3")
    assert not (tmp_path / "outside").exists() and not (tmp_path / "imported3").exists()

    # the same name with other content keeps the existing file
    (tmp_path / "o").mkdir()
    other = _small_model_file(tmp_path / "o" / "singer.pth", epoch=9)
    again = import_package(export_package(other, None, tmp_path / "o.zip"), tmp_path / "imported")
    assert again.model.name == "singer-2.pth" and read_card(tmp_path / "imported" / "singer.pth").epoch == 5


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/rvc-pwned",))


def test_packages_refuse_what_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RvcError, match="not a zip"):
        import_package(tmp_path / "notes.txt", tmp_path / "d")
    none = tmp_path / "none.zip"
    with zipfile.ZipFile(none, "w") as z:
        z.write(tmp_path / "notes.txt", "notes.txt")
    with pytest.raises(RvcError, match="exactly one model"):
        import_package(none, tmp_path / "d")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(pickle.dumps(_Boom()))
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.write(bad, "bad.pth")
    with pytest.raises(ModelFileError, match="not a loadable RVC model"):
        import_package(tmp_path / "bad.zip", tmp_path / "d")
    assert not Path("/tmp/rvc-pwned").exists() and not (tmp_path / "d" / "bad.pth").exists()
    torch.save({"model": {}, "iteration": 1}, tmp_path / "G_1.pth")
    with pytest.raises(ModelFileError, match="training checkpoint"):
        read_card(tmp_path / "G_1.pth")


def test_batch_conversion_skips_what_is_not_audio(tmp_path, tiny_experiment, embedder_dir):
    from rvc.steps.train import loop as T

    exp = tiny_experiment()
    model = T.train(
        exp,
        T.TrainConfig(
            epochs=1,
            batch_size=2,
            no_pretrained=True,
            device="cpu",
            weights_dir=tmp_path / "w",
            discriminator_scale=0.25,
        ),
    ).small_model
    src = tmp_path / "in"
    espeak("First file.", src / "a.wav")
    espeak("Second file.", src / "b.wav")
    encode(src / "b.wav", src / "b.mp3")  # the same stem: its result must not overwrite b.wav's
    (src / "readme.txt").write_text("not audio")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rvc", "infer", str(model), str(src), str(tmp_path / "out"), "--format", "flac"]
    cmd += ["--f0-method", "pm", "--embedder", str(embedder_dir), "--device", "cpu", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    rows = {Path(x["source"]).name: x for x in json.loads(r.stdout)}
    assert rows["a.wav"]["output"].endswith("a.flac") and rows["b.mp3"]["output"].endswith("b.flac")
    assert rows["b.wav"]["output"].endswith("b-2.flac")  # files are taken in name order: b.mp3 first
    assert rows["readme.txt"]["output"] is None and rows["readme.txt"]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.flac", "b-2.flac", "b.flac"]
    assert np.isfinite(V.decode_audio(tmp_path / "out" / "a.flac", 16000).samples).all()
