"""The registry of tasks. A task is one folder under faceauth/tasks/ that calls `register`; adding
one is that folder plus one line in BUILTIN_TASKS."""

from __future__ import annotations

import importlib

from faceauth.errors import FaceauthError
from faceauth.tasks.base import Evaluation, OnnxSpec, Task

BUILTIN_TASKS = (
    "faceauth.tasks.fusion",
    "faceauth.tasks.liveness",
    "faceauth.tasks.temporal",
)

_registry: dict[str, Task] = {}
_loaded = False


def register(task: Task) -> Task:
    if task.name in _registry and _registry[task.name] is not task:
        raise ValueError(f"task '{task.name}' is registered twice")
    _registry[task.name] = task
    return task


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


__all__ = ["Evaluation", "OnnxSpec", "Task", "get_task", "list_tasks", "register"]
