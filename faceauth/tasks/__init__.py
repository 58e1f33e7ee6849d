"""The registry of tasks. A task is one folder under faceauth/tasks/ whose task.py holds a subclass of
`faceauth.tasks.base.Task` carrying `@register`; adding one is that folder plus its line in
BUILTIN_TASKS (or, for a task outside this package, importing its module before use)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from faceauth.training.checkpoint import load_checkpoint
from faceauth.io.errors import FaceauthError
from faceauth.tasks.base import Evaluation, OnnxSpec, Task, TrainingRun

BUILTIN_TASKS = (
    "faceauth.tasks.fusion.task",
    "faceauth.tasks.liveness.task",
    "faceauth.tasks.temporal.task",
)

_registry: dict[str, Task] = {}
_loaded = False


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: one instance of the task, found by its name from then on."""
    current = _registry.get(cls.name)
    if current is not None and type(current).__qualname__ != cls.__qualname__:
        raise ValueError(f"task '{cls.name}' is registered twice")
    _registry[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    """Forget a task (for tasks defined on the fly, e.g. in tests)."""
    _registry.pop(name, None)


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN_TASKS:
            importlib.import_module(module)
        _loaded = True


def list_tasks() -> list[str]:
    _load_builtins()
    return sorted(_registry)


def get_task(name: str) -> Task:
    _load_builtins()
    if name not in _registry:
        raise FaceauthError(f"unknown task '{name}'; available tasks: {', '.join(sorted(_registry))}")
    return _registry[name]


def load_task_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file (faceauth.training.checkpoint.load_checkpoint: plain tensors and data, complete) whose
    task this faceauth has and whose weights fit the model its model_args describe; each failure is a
    FaceauthError naming the file. Every command that takes a model file, and the search reading a
    trial's checkpoint back from the run folder, load through here."""
    path = Path(path)
    checkpoint = load_checkpoint(path)
    if checkpoint["task"] not in list_tasks():
        raise FaceauthError(f"checkpoint {path} is for task {checkpoint['task']!r}, which this faceauth does not have "
                            f"({', '.join(list_tasks())})")
    try:
        get_task(checkpoint["task"]).build_model(checkpoint["model_args"]).load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError, MemoryError) as err:
        reason = " ".join(str(err).split())[:300]
        raise FaceauthError(f"checkpoint {path}: its weights do not fit the model its model_args describe ({reason})") from None
    return checkpoint


__all__ = ["Evaluation", "OnnxSpec", "Task", "TrainingRun", "get_task", "list_tasks", "load_task_checkpoint", "register",
           "unregister"]
