"""What a model costs to ship: its parameter count, the size of its ONNX file and how long one call
takes in onnxruntime on a CPU. Fixed names, the same in every trial's reports, trials.parquet and
metrics.json:

- `params`: trainable and frozen parameters of the torch model;
- `onnx_bytes`: size of the ONNX file as exported for shipping (dynamic batch axis);
- `onnx_latency_ms`: median wall time of one call at batch 1, onnxruntime CPUExecutionProvider with
  one intra-op and one inter-op thread, after WARMUP calls, over REPEATS timed calls.

The latency is for ranking trials against each other on the machine that ran the search, not a
product specification: another CPU, other threads or a busy machine give other figures (docs/benchmarks.md
quotes the spread measured by benchmarks/deployment_cost.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from faceauth.evaluation.onnx_export import export_onnx

COST_KEYS = ("onnx_latency_ms", "params", "onnx_bytes")
WARMUP = 10
REPEATS = 50


def onnx_latency_ms(path: str | Path, inputs: dict[str, np.ndarray], warmup: int = WARMUP, repeats: int = REPEATS) -> float:
    """Median milliseconds per call of the ONNX file on `inputs`, one CPU thread, after `warmup` calls."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, inputs)
    times = np.empty(repeats)
    for i in range(repeats):
        started = time.perf_counter()
        session.run(None, inputs)
        times[i] = time.perf_counter() - started
    return float(np.median(times) * 1e3)


def model_cost(model: torch.nn.Module, spec: Any, keep_path: str | Path | None = None) -> dict[str, float]:
    """Export `model` as it ships (the task's OnnxSpec: dynamic axes, example batch 2) and measure it at
    batch 1. `keep_path`: where to leave the ONNX file (default: a temporary folder, removed)."""
    model = model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep_path) if keep_path else Path(tmp) / "model.onnx"
        export_onnx(model, spec.example_inputs(2, False), path, spec.input_names, spec.output_names, spec.dynamic_axes)
        inputs = {name: t.numpy() for name, t in zip(spec.input_names, spec.example_inputs(1, False))}
        return {"onnx_latency_ms": onnx_latency_ms(path, inputs), "params": int(sum(p.numel() for p in model.parameters())),
                "onnx_bytes": int(path.stat().st_size)}


def checkpoint_cost(build_model: Callable[[dict[str, Any]], torch.nn.Module], onnx_spec: Callable[[dict[str, Any]], Any],
                    model_args: dict[str, Any]) -> dict[str, float]:
    """The cost of the model a checkpoint's `model_args` describe (the weights do not change it)."""
    torch.manual_seed(0)
    return model_cost(build_model(model_args), onnx_spec(model_args))
