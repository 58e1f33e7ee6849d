"""The epoch loop every trainer shares: resume, train, validate, report, early-stop.

A task's `train_loop` builds its data, model and optimiser, then hands `fit` two callables:
`train_epoch(epoch) -> mean loss` and `validate() -> metrics`. `fit` reports through the session,
sends a checkpoint only when the objective improved (so the last checkpoint is the best model),
stops after `patience` epochs without improvement, and ends a run whose loss is NaN/inf.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from faceauth.training.checkpoint import make_checkpoint
from faceauth.training.config import TrainConfig, to_dict
from faceauth.io.errors import FaceauthError
from faceauth.training.session import Session


class TrainingDiverged(FaceauthError):
    """The loss became NaN or inf: the trial ends as failed with this reason (and is not retried)."""

    def __init__(self, message: str, epoch: int = 0):  # a default: Ray re-creates it from its message
        super().__init__(message)
        self.epoch = epoch


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "max" or "min"

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, fused: one kernel for all parameters instead of a dozen ops each, 4-5x cheaper steps on
    CPU for the small models here (measured in benchmarks/fusion_train.py)."""
    return torch.optim.AdamW(list(parameters), lr=config.lr, weight_decay=config.weight_decay, fused=True)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One update from `loss`; returns the loss detached, for the epoch's running total."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The config's `amp` for one training run: the forward pass under autocast to bf16 or fp16, and
    for fp16 a GradScaler, whose loss scaling keeps small gradients from flushing to zero in fp16's
    narrow range (bf16 has fp32's exponent range and needs none). "off": fp32, autocast disabled.
    Validation and export always run in fp32."""

    def __init__(self, amp: str, device: torch.device):
        self.device_type = device.type
        self.dtype = AUTOCAST_DTYPES.get(amp)
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

    def autocast(self):
        # A disabled autocast still checks its dtype: bf16 is valid on every device.
        return torch.autocast(self.device_type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None)

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
        """`optimizer_step`, through the GradScaler where there is one (a step whose scaled gradients
        overflowed is skipped and the scale lowered)."""
        if self.scaler is None:
            return optimizer_step(optimizer, loss)
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        return loss.detach()


def fit(
    *,
    task: str,
    config: TrainConfig,
    session: Session,
    model: torch.nn.Module,
    model_args: dict[str, Any],
    optimizer: torch.optim.Optimizer | None,
    train_epoch: Callable[[int], float] | None,
    validate: Callable[[], dict[str, float]],
    objective: Objective,
    extra_modules: dict[str, torch.nn.Module] | None = None,
    validate_start: bool = False,
    beats_start: Callable[[], bool] | None = None,
) -> None:
    """Run the epochs. `model` may be DDP-wrapped; `extra_modules` (e.g. a loss with parameters)
    are checkpointed beside it so a retried trial resumes exactly.

    `validate_start`: validate the model before any training and report it as epoch 0 with its
    checkpoint, so that training is kept only where it beats the starting point. `train_epoch` None:
    nothing to train (e.g. a closed-form model): epoch 0 is the only report. `beats_start`: called
    when an epoch scores better than the start while the start is still the best; the epoch replaces
    it only if this also says so (e.g. a bootstrap of the validation scores: on a small validation set
    a better figure can be noise)."""
    extra_modules = extra_modules or {}
    start_epoch, best, stale, best_epoch = 0, None, 0, None

    def checkpoint_of(epoch: int, metrics: dict[str, float]) -> dict[str, Any]:
        return make_checkpoint(
            task, model_args, model,
            config=to_dict(config), epoch=epoch, best=best, metrics=metrics,
            optimizer=optimizer.state_dict() if optimizer is not None else {},
            extra={name: module.state_dict() for name, module in extra_modules.items()},
        )

    restored = session.restore()
    if restored is not None:
        try:  # the checkpoint comes back from the run folder: untrusted until it fits
            getattr(model, "module", model).load_state_dict(restored["state_dict"])
            if optimizer is not None:
                optimizer.load_state_dict(restored["optimizer"])
            for name, module in extra_modules.items():
                module.load_state_dict(restored["extra"][name])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise FaceauthError(f"{task}: the checkpoint to resume from does not fit this trial's model "
                                f"({' '.join(str(err).split())[:300]}); start the search afresh") from None
        start_epoch, best, best_epoch = restored["epoch"], restored["best"], restored["epoch"]
    elif validate_start:
        started = time.perf_counter()
        model.eval()
        with torch.no_grad():
            metrics = validate()
        best, best_epoch = metrics[objective.metric], 0
        report = {"epoch": 0, **metrics, f"best_{objective.metric}": best,
                  "epoch_time_s": time.perf_counter() - started, "workers": session.world_size}
        if train_epoch is None:
            report["completed"] = True
        session.report(report, checkpoint_of(0, metrics))
    if train_epoch is None:
        return

    for epoch in range(start_epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        train_loss = train_epoch(epoch)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(f"{task}: training loss became {train_loss} at epoch {epoch}; lower lr or check the data", epoch)
        model.eval()
        with torch.no_grad():
            metrics = validate()
        value = metrics[objective.metric]
        improved = objective.better(value, best) and (best_epoch != 0 or beats_start is None or beats_start())
        if improved:
            best, stale, best_epoch = value, 0, epoch
        else:
            stale += 1
        report = {"epoch": epoch, "train_loss": train_loss, **metrics,
                  f"best_{objective.metric}": best, "epoch_time_s": time.perf_counter() - started,
                  "workers": session.world_size}
        checkpoint = checkpoint_of(epoch, metrics) if improved else None
        if epoch == config.epochs:
            report["completed"] = True
        if config.patience and stale >= config.patience:
            report["early_stopped"] = True  # the last report: the search records why the trial ended
        session.report(report, checkpoint)
        if report.get("early_stopped"):
            break
