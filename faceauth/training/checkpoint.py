"""A checkpoint is a plain dict: the state dict, the model's constructor arguments and the task,
so it rebuilds its own model. It holds only tensors and plain data, so it loads with
`torch.load(weights_only=True)` and never runs pickled code."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any

import torch

from faceauth.io.errors import FaceauthError

FORMAT = "faceauth-checkpoint/1"


def make_checkpoint(task: str, model_args: dict[str, Any], model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
    state = {k: v.detach().cpu().clone() for k, v in _unwrap(model).state_dict().items()}
    return {"format": FORMAT, "task": task, "model_args": model_args, "state_dict": state, **extra}


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    # DistributedDataParallel keeps the real model under .module.
    return getattr(model, "module", model)


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> Path:
    from faceauth.io.runlog import atomic_replace

    with atomic_replace(path) as tmp:  # never half a checkpoint under the real name; a failed write keeps the old one
        try:
            torch.save(checkpoint, tmp)
        except RuntimeError as err:  # torch reports a full disk or read-only folder as a RuntimeError
            raise OSError(errno.ENOSPC if "space" in str(err) else errno.EROFS if "Read-only" in str(err) else errno.EIO,
                          " ".join(str(err).split())[-120:], str(path)) from None
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FaceauthError(f"checkpoint {path} does not exist; pass the model.pt / .pth a training run wrote")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        # torch's own advice (load with weights_only=False) is exactly what must not be done with a file
        # nobody vouches for: keep only its reason.
        found = re.search(r"WeightsUnpickler error:\s*(.+)", str(err))
        reason = (found.group(1) if found else str(err).strip().splitlines()[0]).split(". ")[0].strip()
        raise FaceauthError(f"checkpoint {path} could not be loaded safely: it is not plain tensors and data ({reason}); "
                            "not a faceauth checkpoint, or one holding code, which faceauth never loads") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise FaceauthError(f"{path} is not a faceauth checkpoint (expected a dict with format '{FORMAT}')")
    check_complete(checkpoint, path)
    return checkpoint


def check_complete(checkpoint: dict[str, Any], path: Path) -> None:
    """A checkpoint is untrusted input: it must hold a task name, model_args and a state dict. That
    its weights fit its task's model is checked where tasks live (faceauth.tasks.load_task_checkpoint)."""
    missing = [key for key in ("task", "model_args", "state_dict") if key not in checkpoint]
    if missing:
        raise FaceauthError(f"checkpoint {path} lacks {', '.join(missing)}: not a complete faceauth checkpoint")
    if not isinstance(checkpoint["model_args"], dict) or not isinstance(checkpoint["state_dict"], dict):
        raise FaceauthError(f"checkpoint {path}: model_args and state_dict must be mappings")
