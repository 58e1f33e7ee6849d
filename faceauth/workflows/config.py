"""The config a run trains with: values from their sources in order of precedence (a search space's
fixed keys, the config file, the smoke-test overrides, flags or keywords), built once into the task's
typed config. For the commands and for the search and training workflows."""

from __future__ import annotations

from typing import Any

from faceauth.io.errors import FaceauthError
from faceauth.tasks import Task, list_tasks
from faceauth.training.config import TrainConfig, load_config_file, select_task_values


def config_source(config_file: str | None) -> str:
    """Where config values came from, for error messages."""
    return f"{config_file} (+ flags)" if config_file else "command-line flags (or keyword arguments)"


def resolve_values(task: Task, config_file: str | None, flags: dict[str, Any], smoke_test: bool = False,
                   defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Config values in order of precedence, lowest first: `defaults` (e.g. a search space's fixed
    keys), the config file, the task's smoke-test overrides, flags. Not validated: `task.config`
    (once, with `config_source`) does that."""
    values = dict(defaults or {})
    if config_file:
        values.update(select_task_values(load_config_file(config_file), task.name, list_tasks(), config_file))
    if smoke_test:
        values.update(task.smoke_overrides())
    values.update(flags)
    return values


def resolve_config(task: Task, config_file: str | None, flags: dict[str, Any], smoke_test: bool = False) -> TrainConfig:
    """The command's typed config, built once; errors name the key and where it came from."""
    return task.config(resolve_values(task, config_file, flags, smoke_test), config_source(config_file))


def task_name_from(argv_task: str | None, config_file: str | None) -> str:
    """The positional task, or the `task:` key of a search's best config.yaml."""
    if argv_task:
        return argv_task
    if config_file:
        task = load_config_file(config_file).get("task")
        if task:
            return str(task)
    raise FaceauthError(f"name a task ({', '.join(list_tasks())}) or pass --config with a 'task:' key")
