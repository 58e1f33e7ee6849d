"""The liveness model: one logit per image at every depth and input size; what it is fed (pixels
scaled to [0, 1], augmented at a blur scaled with the image size) and the decoded-image cache's key."""

import numpy as np
import pytest
import torch

from faceauth.tasks.liveness import augment as augment_module
from faceauth.tasks.liveness.cache import FileEntry, cache_key
from faceauth.tasks.liveness.model import LivenessResNet, to_input


def test_model_outputs_one_logit_per_image_at_every_depth():
    for depth, blocks in ((10, 4), (18, 8), (34, 16)):
        model = LivenessResNet(width=4, depth=depth, dropout=0.2).eval()
        assert len(model.stages) == blocks
        assert model(torch.rand(3, 3, 32, 32)).shape == (3,)
    assert model(torch.rand(1, 3, 48, 48)).shape == (1,)  # any input size: global average pooling
    with pytest.raises(ValueError, match="depth must be one of"):
        LivenessResNet(width=4, depth=50)


def test_to_input_scales_uint8_pixels_to_0_1_channels_first():
    """The model normalises with its mean and std itself; its input is only pixels / 255 (as an ONNX
    consumer prepares it), so white is (1 - mean) / std after the model's first step."""
    images = np.zeros((1, 2, 2, 3), np.uint8)
    images[..., 0], images[..., 2] = 255, 51
    x = to_input(images, torch.device("cpu"))
    assert x.shape == (1, 3, 2, 2) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.2]))
    model = LivenessResNet(width=4, depth=10)
    white = (to_input(np.full((1, 2, 2, 3), 255, np.uint8), torch.device("cpu")) - model.mean) / model.std
    assert torch.allclose(white.amax(dim=(2, 3)).flatten(), (1 - model.mean.flatten()) / model.std.flatten())


@pytest.mark.parametrize("shape, strength, expected", [((4, 3, 128, 128), 1.0, 3.0), ((2, 3, 64, 64), 0.5, 0.75)])
def test_blur_sigma_scales_with_the_image_width(monkeypatch, shape, strength, expected):
    """Up to 1.5 * strength pixels at 64 px, scaled with the width."""
    seen = []

    def fake_blur(x, sigma, max_sigma):
        seen.append((max_sigma, float(sigma.max())))
        return x

    monkeypatch.setattr(augment_module, "gaussian_blur", fake_blur)
    out = augment_module.augment(torch.rand(*shape), strength, torch.Generator().manual_seed(0))
    assert out.shape == shape
    assert len(seen) == 1 and seen[0][0] == pytest.approx(expected) and seen[0][1] <= expected


def test_cache_key_changes_with_each_files_size_mtime_and_the_image_size():
    files = [FileEntry("live/a.jpg", 10, 1), FileEntry("spoof/b.jpg", 20, 1)]
    key = cache_key(files, 64)
    assert cache_key(list(files), 64) == key
    assert cache_key([FileEntry("live/a.jpg", 10, 2), files[1]], 64) != key  # rewritten in place, same size
    assert cache_key([FileEntry("live/a.jpg", 11, 1), files[1]], 64) != key
    assert cache_key([FileEntry("live/c.jpg", 10, 1), files[1]], 64) != key
    assert cache_key(files, 96) != key
