"""What the training workflow returns: light records (no torch, no Ray), so that `import faceauth.api`
stays quick."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceauth.evaluation.result import Evaluation


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    metrics: dict[str, Any]  # `<model>.metrics.json`: verdict, best_epoch, val, test, test_baselines, deployment
    history: list[dict[str, Any]]  # each epoch's reported metrics
    written: list[Path]  # the metrics JSON and the report beside the model
    log_path: Path
    wall_time_s: float
    evaluation: Evaluation = field(repr=False)  # the test evaluation, every system's metrics and the scores


@dataclass(frozen=True)
class ProtocolTrainResult:
    protocol: str
    folder: Path  # the fold models (folds/<fold>/) and the results
    results: dict[str, Any] = field(repr=False)  # per fold, aggregate, mean ± std (faceauth.workflows.protocols)
    verdict: dict[str, Any] | None
    written: list[Path]  # protocol.metrics.json, protocol.report.md
    wall_time_s: float
