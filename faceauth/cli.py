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
        except KeyboardInterrupt:  # Ctrl-C: what was written stays (a training run keeps its best model so far)
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper


def add_common_train_flags(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    """Flags every trainer takes; a given flag overrides the config file (default: SUPPRESS = not given)."""
    add = parser.add_argument
    add("--config", metavar="FILE", help="YAML or JSON config; common keys at the top, one optional section per task")
    add("--epochs", type=int, default=argparse.SUPPRESS)
    add("--batch_size", "--batch-size", dest="batch_size", type=int, default=argparse.SUPPRESS)
    add("--lr", type=float, default=argparse.SUPPRESS)
    add("--weight_decay", "--weight-decay", dest="weight_decay", type=float, default=argparse.SUPPRESS)
    add("--augment_strength", "--augment-strength", dest="augment_strength", type=float, default=argparse.SUPPRESS)
    add("--patience", type=int, default=argparse.SUPPRESS, help="early stopping: epochs without improvement (0: off)")
    add("--max_steps_per_epoch", "--max-steps-per-epoch", dest="max_steps_per_epoch", type=int, default=argparse.SUPPRESS,
        help="cap on optimiser steps per epoch (0: the whole training split)")
    if seed:
        add("--seed", type=int, default=argparse.SUPPRESS)
    add("--device", choices=("auto", "cpu", "cuda"), default=argparse.SUPPRESS)
    add("--log_dir", "--log-dir", dest="log_dir", default=argparse.SUPPRESS, help="experiment logs (default logs/experiments)")


def resolve_values(task: Task, config_file: str | None, flags: dict[str, Any], smoke_test: bool = False,
                   defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Config values in order of precedence, lowest first: `defaults` (e.g. a search space's fixed
    keys), the config file, the task's smoke-test overrides, flags. Validated: errors name the key."""
    values = dict(defaults or {})
    source = "command-line flags"
    if config_file:
        values.update(select_task_values(load_config_file(config_file), task.name, list_tasks(), config_file))
        source = f"{config_file} (+ flags)"
    config = build_config(task.config_cls, {**values, **flags}, source)
    if smoke_test:
        values.update(task.smoke_overrides(config))
    values.update(flags)
    build_config(task.config_cls, values, source)
    return values


def resolve_config(task: Task, config_file: str | None, flags: dict[str, Any], smoke_test: bool = False) -> TrainConfig:
    return build_config(task.config_cls, resolve_values(task, config_file, flags, smoke_test))


def task_name_from(argv_task: str | None, config_file: str | None) -> str:
    """The positional task, or the `task:` key of a search's best config.yaml."""
    if argv_task:
        return argv_task
    if config_file:
        task = load_config_file(config_file).get("task")
        if task:
            return str(task)
    raise FaceauthError(f"name a task ({', '.join(list_tasks())}) or pass --config with a 'task:' key")
