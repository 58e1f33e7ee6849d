"""The liveness model: one logit per image at every depth and input size."""

import pytest
import torch

from faceauth.tasks.liveness.model import LivenessResNet


def test_model_outputs_one_logit_per_image_at_every_depth():
    for depth, blocks in ((10, 4), (18, 8), (34, 16)):
        model = LivenessResNet(width=4, depth=depth, dropout=0.2).eval()
        assert len(model.stages) == blocks
        assert model(torch.rand(3, 3, 32, 32)).shape == (3,)
    assert model(torch.rand(1, 3, 48, 48)).shape == (1,)  # any input size: global average pooling
    with pytest.raises(ValueError, match="depth must be one of"):
        LivenessResNet(width=4, depth=50)
