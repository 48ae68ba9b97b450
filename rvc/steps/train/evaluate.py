"""Evaluation during Step 3: at each save (or every ``eval_every`` epochs) the generator as it stands converts
the held-out pieces and the probes (:mod:`rvc.evaluation`), on the training device; the metrics go to
``metrics.jsonl`` (rows with ``"kind": "eval"``) and TensorBoard, the small model of the best score so far is
kept as ``weights/<name>_best.pth``, and with ``patience`` K training stops after K evaluations without a better
score.

The conversion is the one users run (the experiment's own pitch method and embedder, transpose 0) without an
index, which is built after training. Nothing here stops a training: when the evaluation cannot be set up (its
weights missing offline, say), training goes on without it, with a warning.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment
from rvc.evaluation.judge import Evaluation, Judge, Recording, converter_fn
from rvc.inference.config import ConvertConfig
from rvc.models.checkpoint import save_atomic, small_model
from rvc.models.synthesizer import Synthesizer, SynthesizerConfig
from rvc.steps.train.card import model_card
from rvc.steps.train.config import TrainConfig
from rvc.steps.train.holdout import Split
from rvc.steps.train.metrics import MetricsWriter, read_metrics

logger = logging.getLogger(__name__)


@dataclass
class Best:
    """The best evaluation so far (read back from ``metrics.jsonl`` on resume) and how many came after it."""

    score: float | None = None
    epoch: int | None = None
    step: int | None = None
    since: int = 0  # evaluations since the best one


def best_so_far(folder: Path) -> Best:
    best = Best()
    for row in read_metrics(folder, kind="eval"):
        score = row.get("score")
        if isinstance(score, (int, float)) and (best.score is None or score > best.score):
            best = Best(float(score), int(row["epoch"]), int(row["step"]), 0)
        else:
            best.since += 1
    return best


def best_path(experiment: Experiment, config: TrainConfig) -> Path:
    return Path(config.weights_dir or "weights") / f"{experiment.name}_best.pth"


class TrainingEvaluator:
    """Judges the training generator at the epochs it is due, keeps the best model, decides early stopping."""

    def __init__(self, experiment: Experiment, config: TrainConfig, judge: Judge, convert_cfg: ConvertConfig) -> None:
        self.experiment, self.config, self.judge, self.convert_cfg = experiment, config, judge, convert_cfg
        self.converter: Any = None  # made at the first evaluation, around the training generator
        self.best = best_so_far(experiment.paths.root)
        self.last: Evaluation | None = None
        self.last_epoch = 0

    def due(self, epoch: int, saved: bool) -> bool:
        every = self.config.eval_every
        return epoch % every == 0 or epoch == self.config.epochs if every > 0 else saved

    def evaluate(self, net: Synthesizer, epoch: int, step: int) -> Evaluation:
        """Converts and measures with ``net`` in eval mode (eager: other shapes than training's)."""
        from rvc.inference.converter import Converter

        was_training = net.training
        net.eval()
        if self.converter is None:  # loads the pitch estimator once; the generator is the training one
            self.converter = Converter(net, self.convert_cfg, embedder=self.judge.embedder)
        self.converter.net = net
        try:
            with torch.no_grad(), torch.compiler.set_stance("force_eager"):
                evaluation = self.judge.judge(converter_fn(self.converter))
        finally:
            net.train(was_training)
        self.last, self.last_epoch = evaluation, epoch
        return evaluation

    def record(
        self, evaluation: Evaluation, net: Synthesizer, cfg: SynthesizerConfig, epoch: int, step: int, metrics: Any
    ) -> bool:
        """Writes the metrics row; keeps the model when it is the best so far (returns whether it is)."""
        score = evaluation.score
        improved = self.best.score is None or score > self.best.score
        if improved:
            self.best = Best(score, epoch, step, 0)
            self._keep_best(net, cfg, evaluation, epoch, step)
        else:
            self.best.since += 1
        if isinstance(metrics, MetricsWriter):
            extra = {"held_out": len(self.judge.pieces), "on_training_pieces": evaluation.on_training_pieces}
            metrics.evaluation(step, epoch, evaluation.metrics, improved, evaluation.seconds, extra)
        logger.info(
            "evaluation at epoch %d: score %.4f%s (%.1f s)", epoch, score, " (best)" if improved else "",
            evaluation.seconds,
        )  # fmt: skip
        return improved

    def _keep_best(
        self, net: Synthesizer, cfg: SynthesizerConfig, evaluation: Evaluation, epoch: int, step: int
    ) -> None:
        card = model_card(self.experiment, epoch, step)
        card["scores"] = {k: v for k, v in evaluation.metrics.items() if v is not None}
        state = small_model(net.state_dict(), cfg, self.experiment.config.sample_rate, **card)
        path = best_path(self.experiment, self.config)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(state, path)

    def card(self, epoch: int) -> dict[str, Any]:
        """What the final model's card says of the evaluations: its own scores (when this epoch was evaluated)
        and which epoch scored best."""
        card: dict[str, Any] = {}
        if self.last is not None and self.last_epoch == epoch:
            card["scores"] = {k: v for k, v in self.last.metrics.items() if v is not None}
        if self.best.score is not None:
            card |= {"best_epoch": self.best.epoch, "best_score": round(self.best.score, 6)}
        return card

    def should_stop(self) -> str:
        """Why training stops early now ("" to go on)."""
        k = self.config.patience
        if k <= 0 or self.best.since < k or self.best.score is None:
            return ""
        return (
            f"stopped early: no better score in the last {k} evaluation(s); the best is epoch {self.best.epoch} "
            f"(score {self.best.score:.4f}), kept as {best_path(self.experiment, self.config).name}"
        )


def make_evaluator(
    experiment: Experiment, config: TrainConfig, split: Split, stems: list[str], probes: list[Recording],
    device: torch.device, warnings: list[str],
) -> TrainingEvaluator | None:  # fmt: skip
    """The evaluator of this run, or None (turned off, or it cannot be set up: then a warning says why)."""
    if config.no_eval:
        return None
    from rvc.evaluation.sources import experiment_set, load_tools
    from rvc.steps.extract import settings_used

    t0 = time.monotonic()
    try:
        embedder_path, method = settings_used(experiment)
        embedder, encoder = load_tools(embedder_path, str(device))
        pieces, voice, on_training = experiment_set(experiment, stems, split.held_out, split.excluded)
        judge = Judge(
            pieces, voice, probes, embedder=embedder, encoder=encoder, version=experiment.config.version,
            on_training_pieces=on_training,
        )  # fmt: skip
    except (RvcError, OSError) as e:
        note = f"checkpoints are not evaluated (no best model, no early stopping): {e}"
        warnings.append(note)
        logger.warning(note)
        return None
    # the model in training converts with the experiment's embedder, the one the judge loaded
    cfg = ConvertConfig(
        f0_method=method or "rmvpe", index=None, index_rate=0.0, device=str(device), embedder=str(embedder.source)
    )
    logger.info("evaluation set up in %.1f s: %s", time.monotonic() - t0, split.describe())
    return TrainingEvaluator(experiment, config, judge, cfg)
