"""One-click training: preprocess -> extract -> train -> index -> export (small model and zip), with one
overall progress.

Each stage finishes by recording a fingerprint of what it was made from (its settings and the fingerprint of
the stage before it) in ``logs/<name>/pipeline.json``. A re-run skips a stage whose fingerprint is unchanged and
whose output is still on disk; a changed setting redoes that stage and, since their fingerprints chain, every one
after it. A stopped or crashed run has recorded nothing for the stage it was in, so that stage runs again and
resumes by itself (extraction keeps finished pieces, training resumes from its newest checkpoint).

Training is fingerprinted in two parts: what the model learns from (data, model shape, starting weights) and the
schedule (epochs, batch size, …). A new schedule continues from the checkpoints; new data or a new model moves the
old checkpoints aside into ``superseded-<time>/`` (never deleted) and trains afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rvc.core.errors import Cancelled, IncompleteStepError
from rvc.core.experiment import Experiment, ExperimentConfig, create_or_open
from rvc.core.files import write_json_atomic
from rvc.core.progress import Progress, ProgressFn, no_progress
from rvc.steps.extract import ExtractConfig
from rvc.steps.preprocess import PreprocessConfig

logger = logging.getLogger(__name__)

STATE_FILE = "pipeline.json"
STAGES = ("preprocess", "extract", "train", "index", "export")
# share of the overall bar each stage takes (training dominates)
WEIGHTS = {"preprocess": 0.05, "extract": 0.2, "train": 0.65, "index": 0.05, "export": 0.05}


@dataclass(frozen=True)
class RunConfig:
    experiment: ExperimentConfig
    dataset_dir: Path
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    train: Any = (
        None  # rvc.steps.train.loop.TrainConfig (None: its defaults); typed loosely to keep torch out of imports
    )
    weights_dir: Path | None = None  # small model and zip (default ./weights)


@dataclass
class StageOutcome:
    stage: str
    status: str  # "done" | "skipped"
    seconds: float
    detail: str


@dataclass
class RunResult:
    experiment: str
    stages: list[StageOutcome]
    model: Path | None
    index: Path | None
    package: Path | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("model", "index", "package"):
            d[k] = str(d[k]) if d[k] else None
        return d


def fingerprint(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def dataset_identity(folder: Path) -> list[tuple[str, int, int]]:
    """Name, size and modification time of every top-level file (what Step 2a reads)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for f in sorted(folder.iterdir()):
        if f.is_file():
            st = f.stat()
            out.append((f.name, st.st_size, st.st_mtime_ns))
    return out


def file_identity(path: Path | None) -> str:
    if path is None:
        return ""
    path = Path(path)
    if path.is_dir():
        return f"{path.resolve()}:" + fingerprint(dataset_identity(path))
    if not path.exists():
        return f"{path}:missing"
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def _settings(obj: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    d = asdict(obj)
    return {k: v for k, v in d.items() if k not in drop}


class _State:
    """``pipeline.json``: per stage, the fingerprint it was made from and what it produced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("stages", {})

    def get(self, stage: str) -> dict[str, Any]:
        return self.data["stages"].get(stage, {})

    def put(self, stage: str, **record: Any) -> None:
        self.data["stages"][stage] = {**record, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_json_atomic(self.path, self.data)

    def forget(self, stage: str) -> None:
        if self.data["stages"].pop(stage, None) is not None:
            write_json_atomic(self.path, self.data)


def run(
    config: RunConfig,
    logs_dir: Path | None = None,
    on_progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Runs every stage that is not up to date. Raises what the stages raise; :class:`Cancelled` when stopped.

    ``on_progress`` gets the current stage's name, ``done`` of ``total`` (1.0) over the whole run (each stage
    weighs its share, :data:`WEIGHTS`) and a line such as ``"train: epoch 3/20, step 40"``."""
    from rvc.steps.train.config import TrainConfig

    train_cfg: TrainConfig = config.train or TrainConfig()
    weights_dir = Path(config.weights_dir or train_cfg.weights_dir or "weights")
    train_cfg = replace(train_cfg, weights_dir=weights_dir)
    experiment, _ = create_or_open(config.experiment, logs_dir)
    state = _State(experiment.paths.root / STATE_FILE)
    say = on_progress or no_progress
    outcomes: list[StageOutcome] = []
    done_before = 0.0

    def report(stage: str, fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        say(Progress(stage, done_before + WEIGHTS[stage] * fraction, 1.0, message))

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise Cancelled("one-click training stopped; run it again to continue where it stopped")

    ctx = _Context(experiment, config, train_cfg, weights_dir, state, report, stop)
    previous = fingerprint(experiment.config.sample_rate, experiment.config.version, experiment.config.use_f0)
    fps: dict[str, str] = {}
    for stage in STAGES:
        check_stop()
        t0 = time.monotonic()
        fp = fps[stage] = ctx.fingerprint(stage, previous, fps)
        record = state.get(stage)
        if record.get("fingerprint") == fp and ctx.output_present(stage, record):
            report(stage, 1.0, f"{stage}: up to date, skipped")
            outcomes.append(StageOutcome(stage, "skipped", 0.0, record.get("detail", "")))
        else:
            state.forget(stage)
            report(stage, 0.0, f"{stage}: starting")
            produced = ctx.run_stage(stage, record)
            if stop is not None and stop.is_set():  # a stage that stopped early records nothing
                check_stop()
            state.put(stage, fingerprint=fp, **produced)
            outcomes.append(StageOutcome(stage, "done", round(time.monotonic() - t0, 2), produced.get("detail", "")))
            report(stage, 1.0, f"{stage}: done. {produced.get('detail', '')}".strip())
        previous = fp
        done_before += WEIGHTS[stage]
    final = state.get("export")
    return RunResult(
        experiment.name,
        outcomes,
        Path(final["model"]) if final.get("model") else None,
        Path(final["index"]) if final.get("index") else None,
        Path(final["package"]) if final.get("package") else None,
    )


@dataclass
class _Context:
    experiment: Experiment
    config: RunConfig
    train_cfg: Any
    weights_dir: Path
    state: _State
    report: Callable[[str, float, str], None]
    stop: threading.Event | None

    # --- fingerprints ---------------------------------------------------------------------------------------

    def fingerprint(self, stage: str, previous: str, fps: dict[str, str]) -> str:
        """What ``stage`` is made from: its settings and the fingerprints of the stages it reads."""
        c, exp = self.config, self.experiment
        if stage == "preprocess":
            return fingerprint(previous, _settings(c.preprocess, ("workers",)), dataset_identity(c.dataset_dir))
        if stage == "extract":
            e = c.extract
            method = e.f0_method if exp.config.use_f0 else None
            return fingerprint(previous, method, file_identity(e.embedder), file_identity(e.rmvpe))
        if stage == "train":
            return fingerprint(self._train_data_fp(previous), self._schedule())
        if stage == "index":
            return fingerprint(fps["extract"])  # the features only: new epochs do not redo it
        return fingerprint(fps["train"], fps["index"])

    def _train_data_fp(self, previous: str) -> str:
        t = self.train_cfg
        return fingerprint(
            previous,
            self.experiment.model_config,
            file_identity(t.pretrained_g),
            file_identity(t.pretrained_d),
            t.no_pretrained,
            t.discriminator_scale,
            t.seed,
        )

    def _schedule(self) -> dict[str, Any]:
        t = self.train_cfg
        keep = ("epochs", "batch_size", "save_every", "max_steps", "latest_only", "precision")
        return {k: getattr(t, k) for k in keep}

    def output_present(self, stage: str, record: dict[str, Any]) -> bool:
        from rvc.models.checkpoint import checkpoint_pairs
        from rvc.steps.extract import load_extract_report
        from rvc.steps.preprocess import load_report

        paths = self.experiment.paths
        try:
            if stage == "preprocess":
                return load_report(paths).run_id == record.get("run_id")
            if stage == "extract":
                r = load_extract_report(self.experiment)
                return r is not None and r.complete and r.preprocess_run == record.get("run_id")
        except IncompleteStepError:
            return False
        if stage == "train":
            return any(str(g) == record.get("checkpoint") for g, _ in checkpoint_pairs(paths.root))
        if stage == "index":
            return bool(record.get("index")) and Path(record["index"]).is_file()
        return all(Path(record[k]).is_file() for k in ("model", "package") if record.get(k))

    # --- stages ---------------------------------------------------------------------------------------------

    def run_stage(self, stage: str, record: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, f"_{stage}")()

    def _preprocess(self) -> dict[str, Any]:
        from rvc.steps.preprocess import preprocess_dataset

        def progress(p: Any) -> None:
            self.report("preprocess", p.done / max(p.total, 1), f"preprocess: {p.done}/{p.total} files")

        r = preprocess_dataset(self.experiment, self.config.dataset_dir, self.config.preprocess, progress, self.stop)
        t = r.totals
        detail = f"{t['pieces']} pieces, {t['kept_seconds']:.1f} s kept, {t['skipped']} files skipped"
        return {"run_id": r.run_id, "detail": detail}

    def _extract(self) -> dict[str, Any]:
        from rvc.steps.extract import extract

        stages = ("pitch", "features") if self.experiment.config.use_f0 else ("features",)

        def progress(p: Progress) -> None:
            share = 0.5 if len(stages) == 2 else 1.0
            base = 0.5 if (p.stage == "features" and len(stages) == 2) else 0.0
            frac = 0.0 if p.stage == "download" else base + share * (p.fraction or 0.0)
            self.report("extract", frac, f"extract ({p.stage}): {p.done}/{p.total}")

        r = extract(self.experiment, self.config.extract, progress, self.stop)
        t = r.totals
        return {"run_id": r.preprocess_run, "detail": f"{t['done']} pieces, {t['skipped']} skipped"}

    def _train(self) -> dict[str, Any]:
        from rvc.models.checkpoint import checkpoint_pairs
        from rvc.steps.train.loop import train

        root = self.experiment.paths.root
        previous = self.state.data.get("train_data")
        current = self._train_data_fp(self.state.get("extract").get("fingerprint", ""))  # recorded just before
        pairs = checkpoint_pairs(root)
        if pairs and previous is not None and previous != current:
            aside = root / f"superseded-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
            aside.mkdir()
            for g, d in pairs:
                g.rename(aside / g.name)
                d.rename(aside / d.name)
            logger.info("data or model changed: earlier checkpoints moved to %s", aside)
            self.report("train", 0.0, f"train: data or model changed, earlier checkpoints moved to {aside.name}/")
        self.state.data["train_data"] = current
        write_json_atomic(self.state.path, self.state.data)

        def progress(p: Any) -> None:
            s = p.detail  # rvc.steps.train.config.TrainStatus
            mel = s.losses.get("loss_mel")
            message = f"train: epoch {s.epoch}/{s.epochs}, step {s.step}" + (f", mel {mel:.2f}" if mel else "")
            self.report("train", p.fraction or 0.0, message)

        r = train(self.experiment, self.train_cfg, progress, self.stop)
        if r.stopped or r.checkpoint is None:
            if r.checkpoint is None and not r.stopped:
                pairs = checkpoint_pairs(root)
                if pairs:  # nothing left to train: the existing newest checkpoint is the result
                    return {"checkpoint": str(pairs[0][0]), "detail": f"already trained ({pairs[0][0].name})"}
            raise Cancelled("training stopped; run one-click again to continue from the saved checkpoint")
        return {"checkpoint": str(r.checkpoint), "detail": f"epoch {r.epoch}, step {r.step}, from {r.started_from}"}

    def _index(self) -> dict[str, Any]:
        from rvc.steps.index import train_index

        def progress(p: Progress) -> None:  # training the lists is the first half, adding the vectors the second
            self.report("index", 0.5 + 0.5 * (p.fraction or 0.0), f"index: {p.message}")

        r = train_index(self.experiment, on_progress=progress)
        return {"index": str(r.path), "detail": f"{r.path.name} ({r.vectors} vectors)"}

    def _export(self) -> dict[str, Any]:
        from rvc.steps.export import export_model

        ckpt = Path(self.state.get("train")["checkpoint"])
        index = Path(self.state.get("index")["index"])
        r = export_model(self.experiment, self.weights_dir, ckpt, zip=True, index=index)
        assert r.package is not None  # zip=True
        detail = r.package.name + (f", {r.best_package.name} (the best-scoring model)" if r.best_package else "")
        return {"model": str(r.model), "index": str(index), "package": str(r.package), "detail": detail}
