"""The seam between a trainer's `train_loop(config)` and whoever runs it.

A train_loop reports each epoch through `current().report(metrics, checkpoint)` and resumes from
`current().restore()`. The runner picks the session before calling it:

- `LocalSession`: the standalone `faceauth.train` command and tests; no Ray at all.
- `TuneSession`: one CPU worker as a plain Ray Tune function trial (`ray.tune.report`).
- `TrainSession`: a worker of a Ray Train `TorchTrainer` (`ray.train.report`), DDP across workers.

So one train_loop serves all three without knowing which it is in.
"""

from __future__ import annotations

import abc
import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from faceauth.io.errors import FaceauthError

from faceauth.training.checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_FILE = "model.pt"


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise FaceauthError("device cuda: this machine has no CUDA GPU that torch can use (torch.cuda.is_available() "
                            "is False); use --device auto or cpu, or a torch build with CUDA")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class Session(abc.ABC):
    world_rank = 0
    world_size = 1

    def device(self, requested: str) -> torch.device:
        return resolve_device(requested)

    def prepare_model(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return model.to(device)

    @abc.abstractmethod
    def report(self, metrics: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        """Report one epoch's metrics; `checkpoint` (a `make_checkpoint` dict) when the model improved."""

    def restore(self) -> dict[str, Any] | None:
        """The last reported checkpoint when a trial is retried or resumed, else None."""
        return None


class LocalSession(Session):
    """Keeps every report in memory; `on_report` sees each one as it arrives (progress, logs)."""

    def __init__(self, on_report: Callable[[dict[str, Any], bool], None] | None = None):
        self.history: list[dict[str, Any]] = []
        self.last_checkpoint: dict[str, Any] | None = None
        self._on_report = on_report

    def report(self, metrics: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        self.history.append(dict(metrics))
        if checkpoint is not None:
            self.last_checkpoint = checkpoint
        if self._on_report is not None:
            self._on_report(metrics, checkpoint is not None)


class TuneSession(Session):
    """A plain Ray Tune function trial: no process group, no TorchTrainer start-up cost.
    Each report carries `loop_time_s`, the time spent in train_loop so far (the search's efficiency
    figure: how much of a trial's wall time is training rather than Ray overhead). `on_report` sees
    each report too (the trial's live metrics)."""

    def __init__(self, on_report: Callable[[dict[str, Any]], None] | None = None,
                 placement: dict[str, float] | None = None) -> None:
        self._started = time.perf_counter()
        self._on_report = on_report
        self._placement = dict(placement or {})  # e.g. gpu_id: the GPU Ray assigned the trial

    def report(self, metrics: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        from ray import tune

        metrics = {**metrics, **self._placement, "loop_time_s": time.perf_counter() - self._started}
        if self._on_report is not None:
            self._on_report(metrics)
        if checkpoint is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(checkpoint, Path(tmp) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    def restore(self) -> dict[str, Any] | None:
        from ray import tune

        return _load_from(tune.get_checkpoint())


class TrainSession(Session):
    """A worker of a Ray Train TorchTrainer: DDP model, rank 0 writes the checkpoint. The runner gives
    rank 0 an `on_report` (the trial's live metrics): its reports are the ones Tune gets."""

    def __init__(self, on_report: Callable[[dict[str, Any]], None] | None = None) -> None:
        import ray.train

        context = ray.train.get_context()
        self.world_rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self._started = time.perf_counter()
        self._on_report = on_report

    def device(self, requested: str) -> torch.device:
        import ray.train.torch

        return ray.train.torch.get_device()

    def prepare_model(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        import ray.train.torch

        if not any(p.requires_grad for p in model.parameters()):
            return model.to(device)  # nothing to train (a closed-form model): DDP refuses such a module
        return ray.train.torch.prepare_model(model)

    def report(self, metrics: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        import ray.train

        metrics = {**metrics, "loop_time_s": time.perf_counter() - self._started}
        if self._on_report is not None:
            self._on_report(metrics)
        if checkpoint is None or self.world_rank != 0:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(checkpoint, Path(tmp) / CHECKPOINT_FILE)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))

    def restore(self) -> dict[str, Any] | None:
        import ray.train

        return _load_from(ray.train.get_checkpoint())


def _load_from(checkpoint: Any) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return load_checkpoint(Path(directory) / CHECKPOINT_FILE)


# Per thread: the folds of a protocol (faceauth.tasks.protocols) each run their train_loop in a thread of their own.
_installed = threading.local()


def current() -> Session:
    """The session the runner installed, or a fresh LocalSession when train_loop is called bare."""
    session = getattr(_installed, "session", None)
    return session if session is not None else LocalSession()


@contextlib.contextmanager
def use_session(session: Session) -> Iterator[Session]:
    previous, _installed.session = getattr(_installed, "session", None), session
    try:
        yield session
    finally:
        _installed.session = previous
