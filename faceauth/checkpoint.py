"""A checkpoint is a plain dict: the state dict, the model's constructor arguments and the task,
so it rebuilds its own model. It holds only tensors and plain data, so it loads with
`torch.load(weights_only=True)` and never runs pickled code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from faceauth.errors import FaceauthError

FORMAT = "faceauth-checkpoint/1"


def make_checkpoint(task: str, model_args: dict[str, Any], model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
    state = {k: v.detach().cpu().clone() for k, v in _unwrap(model).state_dict().items()}
    return {"format": FORMAT, "task": task, "model_args": model_args, "state_dict": state, **extra}


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    # DistributedDataParallel keeps the real model under .module.
    return getattr(model, "module", model)


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> Path:
    from faceauth.runlog import atomic_replace

    with atomic_replace(path) as tmp:  # never half a checkpoint under the real name; a failed write keeps the old one
        torch.save(checkpoint, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FaceauthError(f"checkpoint {path} does not exist; pass the model.pt / .pth a training run wrote")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise FaceauthError(f"checkpoint {path} could not be loaded safely: {err}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise FaceauthError(f"{path} is not a faceauth checkpoint (expected a dict with format '{FORMAT}')")
    return checkpoint
