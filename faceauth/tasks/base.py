"""What a task is: one class with a template, found through the registry (faceauth.tasks).

`Task` does what every task does the same way: builds its config once into its typed dataclass, runs
`train_loop` (seed, session, the task's data and model, the epoch loop through `faceauth.training.fit.fit`),
finishes a selected checkpoint (refit, test evaluation beside the baselines, verdict), exports it to
ONNX, generates its command-line flags from its config's fields. A task subclasses it and supplies
small hooks: `prepare` (its data, model, loss and the two callables of `fit`), `build_model`,
`evaluate`, `onnx_spec`, `check_data`, and optionally `deployment_info`, `refit` and a synthetic-data
generator for `python -m faceauth.datasets`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import torch

from faceauth.training import session as sessions
from faceauth.training.config import TrainConfig, add_config_flags, build_config
from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective, fit
from faceauth.io.runlog import seed_everything
from faceauth.evaluation.verdict import build_verdict


@dataclass(frozen=True)
class DataOption:
    """One setting of a task's synthetic-data generator: `faceauth datasets TASK OUT_DIR --NAME` and
    `faceauth.datasets(TASK, OUT_DIR, NAME=...)`. `default` None: the generator decides (help says how)."""
    kind: type  # int, float or str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OnnxSpec:
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    # (batch, check) -> inputs; check=True: other sizes than the export example on every dynamic axis.
    example_inputs: Callable[[int, bool], tuple[torch.Tensor, ...]]


@dataclass
class TrainingRun:
    """What a task's `prepare` hook hands the template: the model and what `fit` runs on it.

    `train_epoch` None: nothing to train (a closed-form model), epoch 0 is the only report.
    `validate_start`: the untrained model is validated and reported as epoch 0. `beats_start`: see
    `faceauth.training.fit.fit`. `extra_modules` (e.g. a loss with parameters) are checkpointed beside the model."""

    model: torch.nn.Module
    model_args: dict[str, Any]
    validate: Callable[[], dict[str, float]]
    train_epoch: Callable[[int], float] | None = None
    optimizer: torch.optim.Optimizer | None = None
    extra_modules: dict[str, torch.nn.Module] | None = None
    validate_start: bool = False
    beats_start: Callable[[], bool] | None = None


@dataclass(frozen=True)
class ScoreAxes:
    """How the ROC and DET plots of a task kind name their axes, in the field's terms: verification in
    FAR/TAR/FRR, presentation-attack detection in ISO/IEC 30107-3's APCER/BPCER (scores: attack
    probabilities, so the negatives scored high are bona fide presentations taken for attacks)."""

    false_positive: str  # x of both plots: negatives scored as positives
    true_positive: str  # y of the ROC
    false_negative: str  # y of the DET
    negatives: str = "negatives"  # what the x axis counts, for the ROC's title
    operating_rate: float | None = None  # a point marked at this false-positive rate
    operating_name: str = ""


SCORE_AXES = {
    "verification": ScoreAxes("FAR: impostor pairs accepted", "TAR: genuine pairs accepted", "FRR: genuine pairs rejected",
                              "impostor pairs", 1e-3, "FAR"),
    "pad": ScoreAxes("BPCER: bona fide presentations classified as attacks", "1 - APCER: attack presentations detected",
                     "APCER: attack presentations classified as bona fide", "bona fide presentations"),
}


class Task:
    """The template every task follows. Subclasses set the class attributes and the hooks."""

    name: ClassVar[str]
    description: ClassVar[str]
    config_cls: ClassVar[type[TrainConfig]]
    objective: ClassVar[Objective]
    # What validate() reports each epoch; a search may optimise any of them.
    metric_names: ClassVar[tuple[str, ...]]
    # "verification" (genuine/impostor pairs) or "pad" (attack/bona fide): how reports label scores.
    kind: ClassVar[str]
    # Config keys that name real data; when none is set, searches use the task's synthetic data.
    data_keys: ClassVar[tuple[str, ...]] = ()
    # Config overrides for --smoke-test: a few steps on tiny data through the whole path.
    smoke: ClassVar[Mapping[str, Any]] = {}
    # The task's own flags for faceauth.train and faceauth.tune: config field -> argparse settings.
    flags: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    # What the verdict suggests when the model does not beat a baseline.
    verdict_advice: ClassVar[str] = ""
    # `python -m faceauth.datasets <task>`: its one-line help (None when the task has no generator),
    # what OUT_DIR receives, and the generator's settings.
    generator_help: ClassVar[str | None] = None
    generator_out_dir: ClassVar[str] = ""
    generator_options: ClassVar[Mapping[str, DataOption]] = {}

    # --- what every task does the same way -------------------------------------------------------

    def config(self, values: Mapping[str, Any] | TrainConfig, source: str | None = None) -> TrainConfig:
        """The typed config from plain values (a typed one is returned as it is)."""
        if isinstance(values, self.config_cls):
            return values
        return build_config(self.config_cls, values, source or f"{self.name} config")

    def train_loop(self, config: Mapping[str, Any] | TrainConfig) -> None:
        """One training run, standalone, as a Tune trial or on a DDP worker."""
        cfg = self.config(config)
        session = sessions.current()
        seed_everything(cfg.seed)
        run = self.prepare(cfg, session)
        fit(task=self.name, config=cfg, session=session, model=run.model, model_args=run.model_args,
            optimizer=run.optimizer, train_epoch=run.train_epoch, validate=run.validate, objective=self.objective,
            extra_modules=run.extra_modules, validate_start=run.validate_start, beats_start=run.beats_start)

    def load_model(self, checkpoint: Mapping[str, Any]) -> torch.nn.Module:
        """The checkpoint's model, weights loaded, in eval mode."""
        model = self.build_model(checkpoint["model_args"])
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval()

    def finalize(self, checkpoint: dict[str, Any]) -> tuple[dict[str, Any], Evaluation, dict[str, Any] | None]:
        """After model selection: refit on training + validation data (where the task has it and the
        config's `refit` is on), evaluate on the test data beside the baselines, and the verdict (None
        when the evaluation has no groups to bootstrap over)."""
        if checkpoint["config"].get("refit", True):
            checkpoint = self.refit(checkpoint)
        evaluation = self.evaluate(checkpoint)
        verdict = build_verdict(evaluation, self.objective, self.verdict_advice) if evaluation.groups is not None else None
        return checkpoint, evaluation, verdict

    def export_onnx(self, checkpoint: Mapping[str, Any], output_path: str | Path) -> dict[str, Any]:
        """Write ONNX and check it in onnxruntime at other sizes than the export example (batch 2):
        batch 5, and 7 for each further dynamic axis. Raises FaceauthError when parity fails."""
        from faceauth.evaluation.onnx_export import export_onnx, onnx_parity
        from faceauth.io.runlog import atomic_replace

        model = self.load_model(checkpoint)
        spec = self.onnx_spec(checkpoint["model_args"])
        with atomic_replace(output_path) as tmp:  # the ONNX file replaces an old one only once its parity holds
            export_onnx(model, spec.example_inputs(2, False), tmp, spec.input_names, spec.output_names, spec.dynamic_axes)
            parity = onnx_parity(model, tmp, dict(zip(spec.input_names, spec.example_inputs(5, True))))
        return {"path": str(output_path), **parity}

    def add_cli_flags(self, parser: argparse.ArgumentParser | Any) -> None:
        """The task's flags, generated from its config's fields (`flags` names them)."""
        add_config_flags(parser, self.config_cls, self.flags)

    def smoke_overrides(self) -> dict[str, Any]:
        """Config values for --smoke-test (from `smoke`)."""
        return dict(self.smoke)

    # --- hooks --------------------------------------------------------------------------------------

    def prepare(self, config: TrainConfig, session: sessions.Session) -> TrainingRun:
        """Load the data, build the model (on `session.device`, through `session.prepare_model`),
        its optimiser and loss; return what `fit` runs."""
        raise NotImplementedError

    def build_model(self, model_args: dict[str, Any]) -> torch.nn.Module:
        """An untrained model from a checkpoint's `model_args`."""
        raise NotImplementedError

    def evaluate(self, checkpoint: Mapping[str, Any], test_data: str | None = None, split_name: str = "test") -> Evaluation:
        """The checkpoint on the test data (`test_data`, else its own data's test split) beside the baselines;
        `split_name="val"`: on its validation split instead (an operating point is chosen there)."""
        raise NotImplementedError

    def onnx_spec(self, model_args: dict[str, Any]) -> OnnxSpec:
        raise NotImplementedError

    def check_data(self, config: TrainConfig) -> str:
        """Load and check the configured data (raising FaceauthError naming the problem) and return a
        one-line summary; the search calls it before Ray starts, so bad data never reaches a trial."""
        raise NotImplementedError

    def deployment_info(self, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        """Extra fields for metrics.json (e.g. the preprocessing an ONNX consumer must apply)."""
        return {}

    def refit(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """The selected model fitted again on training + validation data; by default it stays as selected."""
        return checkpoint

    def write_synthetic(self, out_dir: str, options: Mapping[str, Any]) -> list[Path]:
        """Write the synthetic dataset `generator_options` describe (every option given, defaults filled in)
        under `out_dir`; returns what it wrote. Raises FaceauthError naming the option that is out of range."""
        raise NotImplementedError
