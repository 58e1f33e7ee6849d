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

from faceauth.io.errors import FaceauthError

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
    _reset_rnn_dispatch_cache()
    # The exporter narrates every pass on stdout; keep the user's terminal for what matters.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            model, example_inputs, dynamo=True, input_names=list(input_names),
            output_names=list(output_names), dynamic_shapes=tuple(dynamic_shapes), verbose=False,
        )
        program.save(str(path))
    _check_dynamic_axes(path, dynamic_axes)
    return path


def _reset_rnn_dispatch_cache() -> None:
    """With dynamic shapes, torch.onnx swaps in a while-loop LSTM/GRU decomposition that keeps the time
    axis symbolic, by editing the op's py_kernels. But an op caches its Python kernel per dispatch key,
    and the first export in a process fills that cache with the unrolling decomposition, so every later
    export unrolls the sequence and freezes its length (torch 2.13; uni- and bidirectional alike).
    Clearing the cache makes each export see the swap, as the first one does."""
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()


def _check_dynamic_axes(path: Path, dynamic_axes: dict[str, dict[int, str]]) -> None:
    """An axis asked to be dynamic that the exporter fixed to its example's size is an export bug the
    parity check would only report as onnxruntime refusing the input: say what happened instead."""
    import onnx

    frozen = []
    for graph_input in onnx.load(str(path), load_external_data=False).graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        for axis, label in dynamic_axes.get(graph_input.name, {}).items():
            if axis < len(dims) and dims[axis].HasField("dim_value"):
                frozen.append(f"input '{graph_input.name}' axis {axis} ('{label}') fixed to {dims[axis].dim_value}")
    if frozen:
        raise FaceauthError(f"ONNX export to {path} lost dynamic axes: {'; '.join(frozen)}")


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


def set_metadata(path: str | Path, metadata: dict[str, str]) -> None:
    """Write key/value strings into the ONNX file's metadata_props (replacing keys already there), so
    a consumer reads them with onnxruntime's `get_modelmeta().custom_metadata_map`. Atomic."""
    import onnx

    from faceauth.io.runlog import atomic_replace

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    with atomic_replace(path) as tmp:
        onnx.save(model, str(tmp))
