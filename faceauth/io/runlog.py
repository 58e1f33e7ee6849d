"""What a single run did, written as it goes: resolved config, seed, versions and per-epoch metrics
under `logs/experiments/<task>-<timestamp>.json`, rewritten after every epoch so a crash keeps the record."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import platform
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

PACKAGES = ("faceauth", "torch", "numpy", "ray", "optuna", "onnx", "onnxruntime", "pyarrow")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch: two CPU runs with one seed give the same metrics (a test checks it).
    Not torch.use_deterministic_algorithms: it costs ~2 s of imports per run and the CPU kernels used
    here are deterministic already."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()  # then checked like a Python number: a numpy NaN is no valid JSON either
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    return value


class ExperimentLog:
    def __init__(self, log_dir: str | Path, task: str, config: dict[str, Any], seed: int):
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.path = Path(log_dir) / f"{task}-{stamp}.json"
        self.record: dict[str, Any] = {
            "task": task,
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "seed": seed,
            "config": config,
            "versions": package_versions(),
            "epochs": [],
        }
        self._write()

    def epoch(self, metrics: dict[str, Any]) -> None:
        self.record["epochs"].append(metrics)
        self._write()

    def finish(self, **fields: Any) -> None:
        self.record.update(fields, finished=dt.datetime.now().isoformat(timespec="seconds"))
        self._write()

    def _write(self) -> None:
        atomic_write_text(self.path, json.dumps(to_jsonable(self.record), indent=2))


@contextlib.contextmanager
def atomic_replace(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds, rename it over `path` (never half a
    file under the real name); when it fails, remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        tmp.replace(path)
    except OSError as err:
        # The file the user named, not the temporary one (a write() on a full disk names none at all).
        if err.filename is None or err.filename == str(tmp):
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write under a temporary name, then rename: a crash or a full disk never leaves half a file."""
    with atomic_replace(path) as tmp:
        tmp.write_text(text)
    return Path(path)
