"""Step 2a end to end: real-world folders with bad files, replacement, interruption, the CLI."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from rvc.core.errors import Cancelled, DatasetError, ExperimentBusyError, IncompleteStepError
from rvc.core.experiment import ExperimentConfig, create_or_open
from rvc.core.locking import experiment_lock
from rvc.steps import preprocess as pp
from tests.helpers import encode, espeak, silence, speechlike, tone, write_float_wav, write_wav

ROOT = Path(__file__).resolve().parent.parent


def speech_with_pauses(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Phrases of 1.5-3.5 s separated by 0.6-1.2 s pauses (with a faint noise floor)."""
    rng = np.random.default_rng(seed)
    parts, total = [silence(0.4, sr)], 0.4
    while total < seconds:
        phrase = rng.uniform(1.5, 3.5)
        parts += [speechlike(phrase, sr, seed + len(parts)), silence(rng.uniform(0.6, 1.2), sr)]
        total += phrase + len(parts[-1]) / sr
    x = np.concatenate(parts)
    return x + 1e-4 * rng.standard_normal(len(x)).astype(np.float32)


@pytest.fixture
def experiment(tmp_path):
    exp, _ = create_or_open(ExperimentConfig("voice", "40k", "v2", True), tmp_path / "logs")
    return exp


def good_folder(path: Path, n: int = 2, seconds: float = 6.0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_wav(path / f"good_{i}.wav", speech_with_pauses(seconds, 44100, seed=i), 44100)
    return path


@pytest.fixture
def messy_folder(tmp_path):
    d = tmp_path / "dataset"
    d.mkdir()
    sr = 44100
    src = write_wav(tmp_path / "src.wav", speech_with_pauses(8, sr, 1), sr)
    # good files with awkward names and formats
    write_wav(d / "take 1 (final).wav", speech_with_pauses(9, sr, 2), sr)
    encode(src, d / "日本語の声.mp3", "-c:a", "libmp3lame")
    encode(src, d / 'Ελληνικά "quoted" it\'s.flac', "-c:a", "flac")
    espeak("The quick brown fox jumps over the lazy dog. Then it rests for a while.", d / "espeak speech.wav")
    write_wav(d / "clipped.wav", np.clip(speech_with_pauses(6, sr, 3) * 6, -1, 1), sr)
    trunc = write_wav(d / "truncated.wav", speech_with_pauses(8, sr, 4), sr)
    trunc.write_bytes(trunc.read_bytes()[: trunc.stat().st_size // 2])
    # bad files
    (d / "notes.txt").write_text("not audio at all\n")
    (d / "lyrics.wav").write_text("la la la\n" * 50)
    (d / "corrupt.mp3").write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    (d / "empty.wav").write_bytes(b"")
    write_wav(d / "silence.wav", silence(5, sr), sr)
    write_wav(d / "short.wav", tone(0.3, sr), sr)
    nan = speech_with_pauses(4, sr, 5)
    nan[1000:1010] = np.nan
    nan[2000] = np.inf
    write_float_wav(d / "nan.wav", nan, sr)
    outside = write_wav(tmp_path / "private" / "secret.wav", speechlike(3, sr), sr)
    (d / "link out.wav").symlink_to(outside)
    (d / "link in.wav").symlink_to(d / "take 1 (final).wav")
    write_wav(d / ".hidden.wav", speechlike(3, sr), sr)
    write_wav(d / "sub" / "nested.wav", speechlike(5, sr), sr)  # subfolders are not read
    return d


def by_name(report):
    return {f.name: f for f in report.files}


def test_messy_folder(experiment, messy_folder):
    progress = []
    report = pp.preprocess_dataset(
        experiment, messy_folder, pp.PreprocessConfig(workers=2), on_progress=progress.append
    )
    files = by_name(report)
    ok = {n for n, f in files.items() if f.status == "ok"}
    assert ok == {
        "take 1 (final).wav",
        "日本語の声.mp3",
        'Ελληνικά "quoted" it\'s.flac',
        "espeak speech.wav",
        "clipped.wav",
        "truncated.wav",
        "link in.wav",
    }
    reasons = {n: f.reason for n, f in files.items() if f.status == "skipped"}
    assert "not a readable audio or video file" in reasons["notes.txt"]
    assert "not a readable audio or video file" in reasons["lyrics.wav"]
    assert "corrupt" in reasons["corrupt.mp3"] or "not a readable" in reasons["corrupt.mp3"]
    assert reasons["empty.wav"] == "empty file (0 bytes)"
    assert reasons["silence.wav"].startswith("silence only")
    assert reasons["short.wav"].startswith("too short (0.30 s")
    assert "11 NaN/Inf sample(s)" in reasons["nan.wav"]
    assert "outside the dataset folder" in reasons["link out.wav"]
    assert "hidden file" in reasons[".hidden.wav"]
    assert "nested.wav" not in files and report.ignored_folders == ["sub"]
    assert any("clipped" in w for w in files["clipped.wav"].warnings)
    assert any("truncated" in w for w in files["truncated.wav"].warnings)
    # progress: one call per entry, ending at the total
    assert [p.done for p in progress] == list(range(1, len(files) + 1))
    # output: the stems of the report, and nothing else, in both folders, float32 at the right rates
    stems = sorted(s for f in report.files for s in f.stems)
    paths = experiment.paths
    assert sorted(p.stem for p in paths.gt_wavs.iterdir()) == stems
    assert sorted(p.stem for p in paths.wavs16k.iterdir()) == stems
    for stem in stems[:5]:
        sr, x = wavfile.read(paths.gt_wavs / f"{stem}.wav")
        sr16, y = wavfile.read(paths.wavs16k / f"{stem}.wav")
        assert (sr, sr16, x.dtype, y.dtype) == (40000, 16000, np.float32, np.float32)
        assert abs(len(y) - len(x) * 0.4) <= 1
        assert 0.3 < np.abs(x).max() <= 0.925 + 1e-6  # 0.675 + 0.25·peak, peak <= 1
    # the file index is the position in the sorted listing of top-level files
    names = sorted(n for n in os.listdir(messy_folder) if not (messy_folder / n).is_dir())
    assert all(f.index == names.index(f.name) for f in report.files)
    assert all(s.startswith(f"{f.index}_") for f in report.files for s in f.stems)
    # the report on disk is the one returned, and later steps accept it
    assert pp.load_report(paths).run_id == report.run_id
    saved = json.loads(paths.preprocess_report.read_text())
    assert saved["totals"]["processed"] == 7 and saved["totals"]["skipped"] == 9
    assert "skipped nan.wav" in paths.preprocess_log.read_text()


def test_no_speech_lost_at_slice_tails(experiment, tmp_path):
    # two 10 s phrases: the reference overwrites the first one's tail with the second's first piece
    sr = 40000
    x = np.concatenate([silence(0.5, sr), tone(10, sr, 180), silence(2, sr), tone(10, sr, 240), silence(0.5, sr)])
    d = tmp_path / "d"
    write_wav(d / "a.wav", x, sr)
    report = pp.preprocess_dataset(experiment, d, pp.PreprocessConfig(workers=1))
    f = report.files[0]
    assert f.stems == [f"0_{j}" for j in range(6)]
    lengths = [len(wavfile.read(experiment.paths.gt_wavs / f"0_{j}.wav")[1]) / sr for j in range(6)]
    assert lengths[0] == lengths[1] == 3.7 and lengths[3] == lengths[4] == 3.7
    assert 3.2 < lengths[2] <= 4.0 and 3.2 < lengths[5] <= 4.0  # the tails (slice + kept silence) are there
    assert f.piece_seconds > 20.0


def test_parallel_output_equals_serial(tmp_path):
    d = good_folder(tmp_path / "d", n=3)
    outs = []
    for workers in (1, 2):
        exp, _ = create_or_open(ExperimentConfig(f"w{workers}"), tmp_path / "logs")
        pp.preprocess_dataset(exp, d, pp.PreprocessConfig(workers=workers))
        outs.append({p.name: p.read_bytes() for p in sorted(exp.paths.gt_wavs.iterdir())})
    assert outs[0] == outs[1] and len(outs[0]) > 3


def test_rerun_replaces_output_and_stale_later_steps(experiment, tmp_path):
    first = pp.preprocess_dataset(experiment, good_folder(tmp_path / "a", n=3), pp.PreprocessConfig(workers=1))
    paths = experiment.paths
    for d in (paths.f0_coarse, paths.f0_hz, paths.features("v2")):
        d.mkdir()
        (d / "0_0.wav.npy").write_bytes(b"stale")
    second = pp.preprocess_dataset(experiment, good_folder(tmp_path / "b", n=1, seconds=4), pp.PreprocessConfig())
    assert second.run_id != first.run_id
    assert sorted(p.stem for p in paths.gt_wavs.iterdir()) == second.files[0].stems
    assert not paths.f0_coarse.exists() and not paths.features("v2").exists()
    assert [p.name for p in paths.root.iterdir() if p.name.startswith(".preprocess")] == []


@pytest.mark.parametrize("segment", [3.0, 3.7])
def test_segment_setting(experiment, tmp_path, segment):
    d = tmp_path / "d"
    write_wav(d / "long.wav", tone(12, 40000), 40000)
    pp.preprocess_dataset(experiment, d, pp.PreprocessConfig(segment_seconds=segment))
    sr, x = wavfile.read(experiment.paths.gt_wavs / "0_0.wav")
    assert len(x) == int(segment * sr)


def test_extreme_level_pieces_are_dropped(experiment, tmp_path):
    d = tmp_path / "d"
    write_float_wav(d / "hot.wav", tone(3, 40000, amp=4.0), 40000)  # float WAV far above full scale
    write_wav(d / "ok.wav", tone(3, 40000), 40000)
    report = pp.preprocess_dataset(experiment, d, pp.PreprocessConfig(workers=1))
    hot = by_name(report)["hot.wav"]
    assert hot.status == "skipped" and hot.filtered_pieces == 1
    assert hot.reason == "every piece was dropped: peak above 2.5 (extreme level or damaged audio)"
    assert by_name(report)["ok.wav"].pieces == 1


def test_folder_errors(experiment, tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        pp.preprocess_dataset(experiment, tmp_path / "missing")
    f = write_wav(tmp_path / "one.wav", tone(1, 16000), 16000)
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        pp.preprocess_dataset(experiment, f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no files at its top level"):
        pp.preprocess_dataset(experiment, tmp_path / "empty")
    (tmp_path / "only_sub" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match="subfolders are not read"):
        pp.preprocess_dataset(experiment, tmp_path / "only_sub")


def test_no_permission(experiment, tmp_path, monkeypatch):
    d = good_folder(tmp_path / "d", n=1)
    if os.geteuid() != 0:
        d.chmod(0)
    else:  # root reads everything: make the listing fail as it does for a normal user

        def deny(path):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(os, "listdir", deny)
    try:
        with pytest.raises(DatasetError, match="No permission to read the dataset folder"):
            pp.preprocess_dataset(experiment, d)
    finally:
        d.chmod(0o755)


def test_nothing_usable_keeps_previous_output(experiment, tmp_path):
    first = pp.preprocess_dataset(experiment, good_folder(tmp_path / "good"), pp.PreprocessConfig(workers=1))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_text("hello")
    write_wav(bad / "quiet.wav", silence(3, 16000), 16000)
    with pytest.raises(pp.NothingUsableError, match="No usable audio") as e:
        pp.preprocess_dataset(experiment, bad)
    assert "skipped quiet.wav: silence only" in str(e.value)
    assert len(e.value.report.files) == 2
    assert pp.load_report(experiment.paths).run_id == first.run_id


def test_stop_keeps_previous_output(experiment, tmp_path):
    first = pp.preprocess_dataset(experiment, good_folder(tmp_path / "a"), pp.PreprocessConfig(workers=1))
    before = sorted(p.name for p in experiment.paths.gt_wavs.iterdir())
    stop = threading.Event()
    with pytest.raises(Cancelled):
        pp.preprocess_dataset(
            experiment, good_folder(tmp_path / "b", n=4), pp.PreprocessConfig(workers=2), lambda p: stop.set(), stop
        )
    assert pp.load_report(experiment.paths).run_id == first.run_id
    assert sorted(p.name for p in experiment.paths.gt_wavs.iterdir()) == before
    assert not [p for p in experiment.paths.root.iterdir() if p.name.startswith(".preprocess")]


def test_kill_during_swap_is_never_accepted(experiment, tmp_path, monkeypatch):
    pp.preprocess_dataset(experiment, good_folder(tmp_path / "a"), pp.PreprocessConfig(workers=1))
    real_replace, calls = os.replace, []

    def dying_replace(a, b):
        calls.append(a)
        if len(calls) == 2:  # the old 0_gt_wavs moved out, the new one not yet in
            raise KeyboardInterrupt
        real_replace(a, b)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        pp.preprocess_dataset(experiment, good_folder(tmp_path / "b", n=1), pp.PreprocessConfig(workers=1))
    monkeypatch.undo()
    with pytest.raises(IncompleteStepError, match="run Step 2a"):
        pp.load_report(experiment.paths)
    report = pp.preprocess_dataset(experiment, good_folder(tmp_path / "b", n=1), pp.PreprocessConfig(workers=1))
    assert pp.load_report(experiment.paths).run_id == report.run_id
    assert not [p for p in experiment.paths.root.iterdir() if p.name.startswith(".preprocess")]


def test_load_report_refuses_changed_output(experiment, tmp_path):
    with pytest.raises(IncompleteStepError, match="not preprocessed"):
        pp.load_report(experiment.paths)
    pp.preprocess_dataset(experiment, good_folder(tmp_path / "a"), pp.PreprocessConfig(workers=1))
    next(experiment.paths.wavs16k.iterdir()).unlink()
    with pytest.raises(IncompleteStepError, match="1_16k_wavs/ does not match"):
        pp.load_report(experiment.paths)


def test_one_job_per_experiment(experiment, tmp_path):
    d = good_folder(tmp_path / "a", n=1)
    with experiment_lock(experiment.paths.lock, "training"):
        with pytest.raises(ExperimentBusyError, match="training is running"):
            pp.preprocess_dataset(experiment, d)
    pp.preprocess_dataset(experiment, d)  # released


# --- the command line ---------------------------------------------------------------------------------------


def cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rvc", *args], capture_output=True, text=True, env=env, **kw)


def test_cli_create_and_preprocess(tmp_path, messy_folder):
    logs = tmp_path / "logs"
    r = cli("create", "singer", "--sample-rate", "48k", "--version", "v1", "--no-f0", "--logs-dir", str(logs))
    assert r.returncode == 0, r.stderr
    assert json.loads((logs / "singer" / "config.json").read_text())["experiment"]["use_f0"] is False
    r = cli("preprocess", "singer", str(messy_folder), "--workers", "2", "--json", "--logs-dir", str(logs))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["sample_rate"] == 48000 and report["totals"]["processed"] == 7
    assert "[16/16]" in r.stderr and "skipped: empty file (0 bytes)" in r.stderr
    assert "warning: clipped" in r.stderr


def test_cli_logs_dir_from_environment(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RVC_LOGS_DIR": str(tmp_path / "elsewhere")}
    r = subprocess.run([sys.executable, "-m", "rvc", "create", "x"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "elsewhere" / "x" / "config.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["create", "../evil"], "error: Experiment name '../evil' contains a path separator"),
        (["create", "bad name"], "error: Experiment name 'bad name' contains ' '"),
        (["preprocess", "ghost", "."], "error: Experiment 'ghost' does not exist"),
        (["preprocess", "x", "/no/such/folder"], "error: Dataset folder not found: /no/such/folder"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, message):
    logs = tmp_path / "logs"
    assert cli("create", "x", "--logs-dir", str(logs)).returncode == 0
    r = cli(*args, "--logs-dir", str(logs))
    assert r.returncode == 1
    assert r.stderr.strip().startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_cli_conflict_says_what_differs(tmp_path):
    logs = str(tmp_path / "logs")
    assert cli("create", "x", "--logs-dir", logs).returncode == 0
    r = cli("create", "x", "--sample-rate", "32k", "--logs-dir", logs)
    assert r.returncode == 1 and "sample rate is 40k (you chose 32k)" in r.stderr


def test_cli_nothing_usable(tmp_path):
    logs, d = str(tmp_path / "logs"), tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("x")
    assert cli("create", "x", "--logs-dir", logs).returncode == 0
    r = cli("preprocess", "x", str(d), "--json", "--logs-dir", logs)
    assert r.returncode == 1 and "No usable audio" in r.stderr
    out = json.loads(r.stdout)  # one document: the report and the error
    assert out["files"][0]["status"] == "skipped" and out["kind"] == "NothingUsableError"


# The CLI with its progress callback held after the second file: the run reports that file done (the marker),
# then cannot go on, so the signal always arrives mid-run, however fast the machine (no waiting on timing).
HELD_CLI = """
import faulthandler, signal, sys, time
from pathlib import Path
faulthandler.register(signal.SIGUSR1, all_threads=True)  # a run that does not end says where it is
# Ctrl-C as in a terminal, however the tests were started: a process started in the background (a CI runner,
# nohup, `cmd &` in a script) inherits SIGINT ignored, and Python then installs no handler for it
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
from rvc import cli
from rvc.steps import preprocess

real = preprocess.preprocess_dataset

def held(*args, on_progress, **kwargs):
    def report(p):
        on_progress(p)
        if p.done == 2:
            Path({marker!r}).touch()
            # until the test's signal (at most 10 min: a test that never sends one fails, it does not hang), in
            # short sleeps, so the main thread looks for it often
            for _ in range(12000):
                time.sleep(0.05)
    return real(*args, on_progress=report, **kwargs)

preprocess.preprocess_dataset = held
sys.exit(cli.main(sys.argv[1:]))
"""


def _start_and_interrupt(tmp_path, sig):
    logs = tmp_path / "logs"
    assert cli("create", "x", "--logs-dir", str(logs)).returncode == 0
    assert cli("preprocess", "x", str(good_folder(tmp_path / "a", n=1)), "--logs-dir", str(logs)).returncode == 0
    paths = create_or_open(ExperimentConfig("x"), logs)[0].paths
    first = pp.load_report(paths).run_id
    big = good_folder(tmp_path / "big", n=6, seconds=8)
    marker, err = tmp_path / "second-file-done", tmp_path / "stderr.txt"
    code = HELD_CLI.format(root=str(ROOT), marker=str(marker))
    args = ["preprocess", "x", str(big), "--workers", "2", "--logs-dir", str(logs)]
    with open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stderr=stderr, text=True)
        try:
            deadline = time.monotonic() + 300  # a safety net only: the wait is for the marker, not a duration
            while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # until the run reports its second file done
            assert marker.exists(), err.read_text()
            proc.send_signal(sig)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGUSR1)  # the stacks of its threads, to the log below
                time.sleep(1)
                pytest.fail(f"the run did not end after the signal:\n{err.read_text()[-8000:]}")
        finally:
            proc.kill()
    return proc.returncode, err.read_text(), paths, first


def test_kill_9_leaves_previous_output(tmp_path):
    code, _, paths, first = _start_and_interrupt(tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert pp.load_report(paths).run_id == first  # the previous complete output, accepted as it was
    assert [p for p in paths.root.iterdir() if p.name.startswith(pp.STAGING_PREFIX)]  # the dead run's staging
    pp.preprocess_dataset(_exp(paths), good_folder(tmp_path / "c", n=1))
    assert not [p for p in paths.root.iterdir() if p.name.startswith(".preprocess")]  # cleaned by the next run


def _exp(paths):
    from rvc.core.experiment import open_experiment

    return open_experiment(paths.root.name, paths.root.parent)


def test_ctrl_c_leaves_previous_output(tmp_path):
    code, rest, paths, first = _start_and_interrupt(tmp_path, signal.SIGINT)
    assert code == 130
    assert "interrupted; the previous output was kept" in rest
    assert pp.load_report(paths).run_id == first
    assert not [p for p in paths.root.iterdir() if p.name.startswith(".preprocess")]
