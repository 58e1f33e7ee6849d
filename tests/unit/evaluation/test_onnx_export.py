"""The ONNX parity check: onnxruntime must agree with torch within the tolerance, and an output that
is not a number on either side is no agreement."""

import pytest
import torch
from torch import nn

from faceauth.io.errors import FaceauthError
from faceauth.evaluation.onnx_export import PARITY_TOLERANCE, onnx_parity


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


@pytest.fixture
def log_model(tmp_path):
    """The module and its ONNX graph (one Log node, dynamic batch), written directly: no exporter run."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    path = tmp_path / "log.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return Log(), path


def test_parity_passes_on_matching_outputs_at_another_batch_size(log_model):
    model, path = log_model
    figures = onnx_parity(model, path, {"x": torch.rand(5, 3) + 0.5})
    assert figures["max_abs_diff"] <= PARITY_TOLERANCE and figures["checked_input_shapes"] == {"x": [5, 3]}


def test_parity_fails_when_an_output_is_nan(log_model):
    """log of a negative number is NaN in torch and in onnxruntime: a NaN difference fails the check."""
    model, path = log_model
    with pytest.raises(FaceauthError, match="ONNX parity failed"):
        onnx_parity(model, path, {"x": torch.full((4, 3), -1.0)})
