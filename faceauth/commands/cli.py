"""What every entry point shares: config from file + flags, and errors printed without a traceback."""

from __future__ import annotations

import argparse
import errno
import functools
import sys
from pathlib import Path
from typing import Any, Callable

from faceauth.training.config import TrainConfig, add_config_flags, build_config
from faceauth.io.errors import FaceauthError
from faceauth.io.formatting import prog
from faceauth.io.log import show_progress
from faceauth.tasks import Task, list_tasks

# configs/ at the top of the checkout, linked into the package so that a wheel ships it.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"

class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every option's default where its help does not give it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS))
                or isinstance(action, argparse._HelpAction)):
            return text
        return f"{text} (default: {action.default})".strip()


def show_config_defaults(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Flags that override the config file have no argparse default (SUPPRESS: not given); their help
    shows the config class's default instead."""
    defaults = vars(build_config(config_cls, {}, "defaults"))
    for action in parser._actions:
        if action.default is argparse.SUPPRESS and action.dest in defaults and "default" not in (action.help or ""):
            value = defaults[action.dest]
            value = list(value) if isinstance(value, tuple) else value
            shown = "none" if value is None else value
            action.help = f"{action.help or ''} (default: {shown})".strip().replace("%", "%%")


USER_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


OUT_OF_MEMORY = ("can't allocate memory", "DefaultCPUAllocator", "out of memory")


def exits_cleanly(main: Callable[..., int | None]) -> Callable[..., int]:
    """A FaceauthError is the user's to fix: print its message, not a traceback, and exit 2."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        show_progress()
        try:
            return main(*args, **kwargs) or 0
        except FaceauthError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except OSError as err:
            if err.errno not in USER_OS_ERRORS:
                raise
            # A full disk, a read-only mount, a quota, a permission: the user's to fix; every output is
            # written under a temporary name, so what stood before is whole.
            where = f" {err.filename}" if err.filename else ""
            print(f"error: cannot write{where}: {err.strerror}; nothing that was there before was changed. Free space or "
                  "choose another path", file=sys.stderr)
            return 2
        except (MemoryError, RuntimeError) as err:
            if isinstance(err, RuntimeError) and not any(text in str(err) for text in OUT_OF_MEMORY):
                raise
            print(f"error: out of memory ({' '.join(str(err).split())[:160] or 'MemoryError'}): the model, batch or data "
                  "is larger than this machine holds; lower out_dim, hidden_sizes, batch_size or the image size",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C: what was written stays (a training run keeps its best model so far)
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper


# The flags every trainer takes, generated from TrainConfig's fields (faceauth.training.config.add_config_flags).
COMMON_FLAGS: dict[str, dict[str, Any]] = {
    "epochs": {},
    "batch_size": {},
    "lr": {},
    "weight_decay": {},
    "augment_strength": {},
    "patience": {"help": "early stopping: epochs without improvement (0: off)"},
    "max_steps_per_epoch": {"help": "cap on optimiser steps per epoch (0: the whole training split)"},
    "seed": {},
    "device": {},
    "log_dir": {"help": "experiment logs (default logs/experiments)"},
}


def add_common_train_flags(parser: argparse.ArgumentParser | Any, seed: bool = True) -> None:
    """Flags every trainer takes; a given flag overrides the config file (default: SUPPRESS = not given)."""
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON config; common keys at the top, one optional section "
                        f"per task (every key explained: {EXAMPLE_CONFIG})")
    add_config_flags(parser, TrainConfig, {k: v for k, v in COMMON_FLAGS.items() if seed or k != "seed"})


def task_flags_epilog(command: str, task: Task | None) -> str:
    if task is not None:
        return f"The flags above include the {task.name} task's own; other tasks have theirs: {prog(command)} TASK --help."
    return (f"Each task has its own flags besides these: {prog(command)} TASK --help "
            f"(tasks: {', '.join(list_tasks())}). Flags override the --config file.")


