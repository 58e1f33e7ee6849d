"""What a model costs (faceauth.evaluation.cost): timed at batch 1 on the file as it ships, its size and parameter count."""

import torch

from faceauth.evaluation import cost
from faceauth.tasks.base import OnnxSpec


def linear_spec(features: int) -> OnnxSpec:
    return OnnxSpec(input_names=("x",), output_names=("y",), dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                    example_inputs=lambda batch, check: (torch.randn(batch, features),))


def test_latency_is_measured_at_batch_one_on_the_exported_file(tmp_path, monkeypatch):
    timed = []
    monkeypatch.setattr(cost, "onnx_latency_ms", lambda path, inputs: timed.append((path, inputs)) or 0.25)
    model = torch.nn.Linear(6, 3)
    figures = cost.model_cost(model, linear_spec(6), keep_path=tmp_path / "model.onnx")
    (path, inputs), = timed
    assert [array.shape for array in inputs.values()] == [(1, 6)]
    assert figures == {"onnx_latency_ms": 0.25, "params": 6 * 3 + 3, "onnx_bytes": (tmp_path / "model.onnx").stat().st_size}
    assert path == tmp_path / "model.onnx"


def test_onnx_latency_is_a_positive_median_of_real_calls(tmp_path):
    spec = linear_spec(4)
    path = tmp_path / "m.onnx"
    cost.model_cost(torch.nn.Linear(4, 2), spec, keep_path=path)
    latency = cost.onnx_latency_ms(path, {"x": spec.example_inputs(1, False)[0].numpy()}, warmup=1, repeats=5)
    assert 0 < latency < 1000
