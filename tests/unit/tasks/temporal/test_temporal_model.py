"""The temporal model: its shapes, its closed-form start, and its ONNX export with dynamic batch and
sequence axes."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from faceauth.training.checkpoint import make_checkpoint
from faceauth.tasks import get_task
from faceauth.tasks.temporal.data import VideoSet
from faceauth.tasks.temporal.features import TextureExtractor
from faceauth.tasks.temporal.model import KINDS, TemporalModel, video_scores


@pytest.mark.parametrize("bidirectional", [False, True])
def test_model_outputs_one_logit_per_window_at_any_length(bidirectional):
    model = TemporalModel(feature_dim=6, kind="lstm", hidden_size=5, num_layers=2, bidirectional=bidirectional,
                          dropout=0.1).eval()
    for batch, seq in ((1, 1), (3, 8), (4, 17)):
        assert model(torch.randn(batch, seq, 6)).shape == (batch,)
    assert model.lstm.bidirectional == bidirectional and model.residual.in_features == 5 * (2 if bidirectional else 1)


@pytest.mark.parametrize("kind", KINDS)
def test_model_starts_as_its_closed_form_head(kind):
    """The LSTM residual's last layer starts at zero: the logit is the clip head's alone, and the clip
    head is never trained by gradient."""
    torch.manual_seed(0)
    model = TemporalModel(feature_dim=6, kind=kind, hidden_size=5).eval()
    groups = 1 if kind == "time_blind" else 3
    model.set_statistic_scaling(np.full(6 * groups, 0.1), np.full(6 * groups, 2.0))
    model.set_clip_head(np.linspace(-1, 1, 6 * groups), 0.3)
    x = torch.randn(4, 9, 6)
    expected = model.statistics(x) @ torch.linspace(-1, 1, 6 * groups) + 0.3
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert not any(p.requires_grad for p in model.clip_head.parameters())
    assert (model.lstm is not None) == (kind == "lstm")


@pytest.mark.parametrize("bidirectional", [False, True], ids=["unidirectional", "bidirectional"])
def test_onnx_keeps_batch_and_sequence_dynamic(tmp_path, bidirectional):
    """Exported through the task (parity at batch 5 and seq_len + 3), then run at other lengths."""
    args = {"feature_dim": 6, "kind": "lstm", "hidden_size": 8, "num_layers": 2, "bidirectional": bidirectional, "dropout": 0.1,
            "seq_len": 4, "frame_stride": 1, "frame_extractor": TextureExtractor.identity}
    task = get_task("temporal")
    torch.manual_seed(0)
    model = task.build_model(args)
    model.set_feature_scaling(np.linspace(-1, 1, 6), np.linspace(0.5, 2, 6))
    model.set_clip_head(np.linspace(-0.5, 0.5, 18), 0.1)
    torch.nn.init.normal_(model.residual.weight)  # as after training: the residual counts in the parity check
    checkpoint = make_checkpoint("temporal", args, model, metrics={"threshold": 0.5})
    result = task.export_onnx(checkpoint, tmp_path / "model.onnx")
    assert result["checked_input_shapes"] == {"features": [5, 7, 6]} and result["max_abs_diff"] < 1e-4

    graph = onnx.load(result["path"]).graph
    assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim[:2]] == ["batch", "seq"]
    assert "LSTM" in {node.op_type for node in graph.node}
    session = ort.InferenceSession(result["path"])
    for batch, seq in ((3, 1), (2, 23)):
        x = torch.randn(batch, seq, 6)
        out = session.run(None, {"features": x.numpy()})[0]
        assert out.shape == (batch,) and np.abs(out - model.eval()(x).detach().numpy()).max() < 1e-4


def test_a_videos_score_is_the_mean_probability_of_its_windows():
    """A head that outputs logit log 3 on every window scores every video sigmoid(log 3) = 0.75."""
    rng = np.random.default_rng(0)
    videos = VideoSet([rng.normal(size=(n, 3)).astype(np.float32) for n in (6, 9, 13)], np.array([False, True, True]),
                      np.array(["", "print", "replay"]), ["a", "b", "c"], "generated", "test")
    model = TemporalModel(feature_dim=3, kind="time_blind").eval()
    model.set_clip_head(np.zeros(3), np.log(3))
    assert np.allclose(video_scores(model, videos, 4, 1, torch.device("cpu")), 0.75)
