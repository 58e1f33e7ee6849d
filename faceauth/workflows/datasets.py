"""Synthetic data as a workflow: a task's generator writes a dataset of the task's documented layout to a
folder. `faceauth datasets` and `faceauth.datasets(...)` call it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from faceauth.io.errors import FaceauthError
from faceauth.tasks import Task, get_task, list_tasks


def generating_tasks() -> list[Task]:
    """The registered tasks that have a synthetic-data generator."""
    return [task for task in map(get_task, list_tasks()) if task.generator_help is not None]


@dataclass
class DatasetRequest:
    """What to generate: `task`'s data into `out_dir`, with the generator's `options` (the task's
    `generator_options`; the rest keep their defaults). Checked where it is built."""
    task: str
    out_dir: str | os.PathLike
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        generator = get_task(self.task)  # an unknown task: FaceauthError naming the tasks
        if generator.generator_help is None:
            raise FaceauthError(f"{self.task} has no synthetic-data generator; these do: "
                                f"{', '.join(t.name for t in generating_tasks())}")
        self.out_dir = os.fspath(self.out_dir)
        if os.path.exists(self.out_dir) and not os.path.isdir(self.out_dir):
            raise FaceauthError(f"OUT_DIR {self.out_dir} is a file, not a folder; pass a new folder for the dataset")
        known = generator.generator_options
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise FaceauthError(f"{self.task} data has no option {', '.join(unknown)}; its options: {', '.join(known)}")
        self.options = {name: option_value(name, self.options.get(name, option.default), option)
                        for name, option in known.items()}


def option_value(name: str, value: Any, option) -> Any:
    """`value` as the option's kind (a string is parsed; a bool is no number), or FaceauthError naming it."""
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError
        if option.kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        value = option.kind(value)
    except ValueError:
        kind = {int: "an integer", float: "a number"}.get(option.kind, "a name")
        raise FaceauthError(f"option {name}: {value!r} is not {kind}") from None
    if option.choices is not None and value not in option.choices:
        raise FaceauthError(f"option {name}: {value!r} is not one of {', '.join(option.choices)}")
    return value


@dataclass(frozen=True)
class DatasetResult:
    out_dir: Path
    written: list[Path]  # the files or split folders the generator wrote


def write_dataset(request: DatasetRequest) -> DatasetResult:
    written = get_task(request.task).write_synthetic(request.out_dir, request.options)
    return DatasetResult(Path(request.out_dir), [Path(p) for p in written])
