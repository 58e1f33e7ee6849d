"""What every entry point shares: config from file + flags, and errors printed without a traceback."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any, Callable

from faceauth.config import TrainConfig, build_config, load_config_file, select_task_values
from faceauth.errors import FaceauthError
from faceauth.tasks import Task, list_tasks


def exits_cleanly(main: Callable[..., int | None]) -> Callable[..., int]:
    """A FaceauthError is the user's to fix: print its message, not a traceback, and exit 2."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs) or 0
        except FaceauthError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return wrapper


def add_common_train_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every trainer takes; a given flag overrides the config file (default: SUPPRESS = not given)."""
    add = parser.add_argument
    add("--config", metavar="FILE", help="YAML or JSON config; common keys at the top, one optional section per task")
    add("--epochs", type=int, default=argparse.SUPPRESS)
    add("--batch_size", "--batch-size", dest="batch_size", type=int, default=argparse.SUPPRESS)
    add("--lr", type=float, default=argparse.SUPPRESS)
    add("--weight_decay", "--weight-decay", dest="weight_decay", type=float, default=argparse.SUPPRESS)
    add("--augment_strength", "--augment-strength", dest="augment_strength", type=float, default=argparse.SUPPRESS)
    add("--patience", type=int, default=argparse.SUPPRESS, help="early stopping: epochs without improvement (0: off)")
    add("--seed", type=int, default=argparse.SUPPRESS)
    add("--device", choices=("auto", "cpu", "cuda"), default=argparse.SUPPRESS)
    add("--log_dir", "--log-dir", dest="log_dir", default=argparse.SUPPRESS, help="experiment logs (default logs/experiments)")


def resolve_config(task: Task, config_file: str | None, flags: dict[str, Any], smoke_test: bool = False) -> TrainConfig:
    """File values, then the task's smoke-test overrides, then flags: flags win."""
    values: dict[str, Any] = {}
    source = "command-line flags"
    if config_file:
        values = select_task_values(load_config_file(config_file), task.name, list_tasks(), config_file)
        source = f"{config_file} (+ flags)"
    config = build_config(task.config_cls, {**values, **flags}, source)
    if smoke_test:
        config = build_config(task.config_cls, {**values, **task.smoke_overrides(config), **flags}, source)
    return config


def task_name_from(argv_task: str | None, config_file: str | None) -> str:
    """The positional task, or the `task:` key of a search's best config.yaml."""
    if argv_task:
        return argv_task
    if config_file:
        task = load_config_file(config_file).get("task")
        if task:
            return str(task)
    raise FaceauthError(f"name a task ({', '.join(list_tasks())}) or pass --config with a 'task:' key")
