"""Every trial of a search reports what its model costs to ship (faceauth.evaluation.cost: `onnx_latency_ms`,
`params`, `onnx_bytes`) beside its accuracy, and which epoch's model it keeps.

`CostReporting` wraps the session a trial's `train_loop` reports through. At the first report, when
the model's shape is known (the first report always carries a checkpoint, or the trial resumes from
one), it exports the model to ONNX once and measures it; every report of the trial then carries the
figures, so whichever report ends the trial (completed, early-stopped or stopped by the scheduler)
gives the searcher all its objectives. `kept_epoch` is the epoch of the model the trial keeps (the
last report that carried a checkpoint): the multi-objective searcher and `best/` use that model's
figures, not whatever the last epoch scored.
"""

from __future__ import annotations

from typing import Any

import torch

from faceauth.evaluation.cost import checkpoint_cost
from faceauth.training.session import Session


class CostReporting(Session):
    def __init__(self, inner: Session, task) -> None:
        self.inner = inner
        self.task = task
        self.world_rank = inner.world_rank
        self.world_size = inner.world_size
        self.cost: dict[str, float] | None = None
        self.kept_epoch: int | None = None

    def device(self, requested: str) -> torch.device:
        return self.inner.device(requested)

    def prepare_model(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return self.inner.prepare_model(model, device)

    def restore(self) -> dict[str, Any] | None:
        restored = self.inner.restore()
        if restored is not None:
            self.kept_epoch = int(restored["epoch"])
        return restored

    def report(self, metrics: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        if checkpoint is not None:
            self.kept_epoch = int(metrics["epoch"])
        if self.cost is None and self.world_rank == 0:
            source = checkpoint if checkpoint is not None else self.inner.restore()
            if source is not None:
                self.cost = checkpoint_cost(self.task.build_model, self.task.onnx_spec, source["model_args"])
        extra = dict(self.cost or {})
        if self.kept_epoch is not None:
            extra["kept_epoch"] = self.kept_epoch
        self.inner.report({**metrics, **extra}, checkpoint)
