"""Export a model to ONNX with dynamic axes and prove it: onnxruntime must match torch within a
tolerance on inputs of other sizes than the export example."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from faceauth.errors import FaceauthError

PARITY_TOLERANCE = 1e-4


def export_onnx(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> Path:
    """Write `model` to `path` with torch's current (dynamo) exporter. `dynamic_axes` maps an input
    name to {axis: axis_name}, e.g. {"embeddings": {0: "batch"}}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dims = {}
    dynamic_shapes = []
    for name in input_names:
        axes = dynamic_axes.get(name, {})
        dynamic_shapes.append({axis: dims.setdefault(label, torch.export.Dim(label)) for axis, label in axes.items()})
    model = model.eval()
    # The exporter narrates every pass on stdout; keep the user's terminal for what matters.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            model, example_inputs, dynamo=True, input_names=list(input_names),
            output_names=list(output_names), dynamic_shapes=tuple(dynamic_shapes), verbose=False,
        )
        program.save(str(path))
    return path


def onnx_parity(model: torch.nn.Module, path: str | Path, inputs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Run the ONNX file in onnxruntime and torch on the same `inputs`; raise if any output differs by
    more than PARITY_TOLERANCE (max abs). Returns the figures for metrics.json."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ort_outputs = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        torch_outputs = model.eval()(*inputs.values())
    if isinstance(torch_outputs, torch.Tensor):
        torch_outputs = (torch_outputs,)
    max_abs = max(float(np.max(np.abs(o - t.numpy()))) if o.size else 0.0 for o, t in zip(ort_outputs, torch_outputs))
    shapes = {k: list(v.shape) for k, v in inputs.items()}
    if not max_abs <= PARITY_TOLERANCE:
        raise FaceauthError(
            f"ONNX parity failed for {path}: onnxruntime differs from torch by {max_abs:.3g} (max abs) "
            f"on inputs {shapes}; tolerance {PARITY_TOLERANCE}"
        )
    return {"max_abs_diff": max_abs, "tolerance": PARITY_TOLERANCE, "checked_input_shapes": shapes,
            "onnxruntime": ort.__version__}
