"""One decoder for face images and video frames: every Pillow mode a camera or an export tool writes
comes out as the same 8-bit RGB, or is refused naming the problem (16-bit PNGs used to turn white)."""

import numpy as np
import pytest
from PIL import Image

from faceauth.io.imaging import open_rgb, resize_centre_crop
from faceauth.tasks.fusion.images import read_image
from faceauth.tasks.liveness.data import decode_image
from faceauth.tasks.temporal.videos import _decode_image

GREY = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))  # 16 x 64, 0..252: a ramp


def saved(tmp_path, name: str, image: Image.Image) -> str:
    path = tmp_path / name
    image.save(path)
    return str(path)


MODES = {
    "16-bit greyscale PNG": lambda: Image.fromarray(GREY.astype(np.uint16) * 257),  # I;16
    "32-bit integer TIFF of 16-bit values": lambda: Image.fromarray(GREY.astype(np.int32) * 257, mode="I"),
    "8-bit greyscale": lambda: Image.fromarray(GREY),
    "greyscale with alpha": lambda: Image.fromarray(GREY).convert("LA"),
    "palette": lambda: Image.fromarray(GREY).convert("P"),
    "RGBA": lambda: Image.fromarray(GREY).convert("RGBA"),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_decodes_to_the_same_8_bit_rgb(tmp_path, mode):
    path = saved(tmp_path, "face.tif" if "TIFF" in mode else "face.png", MODES[mode]())
    rgb = np.asarray(open_rgb(path))
    assert rgb.dtype == np.uint8 and rgb.shape == (16, 64, 3)
    assert np.abs(rgb.astype(int) - GREY[..., None].astype(int)).max() <= 1, "not the ramp it was saved as"


def test_cmyk_jpeg_decodes_to_rgb(tmp_path):
    path = saved(tmp_path, "face.jpg", Image.fromarray(np.stack([GREY] * 3, axis=-1)).convert("CMYK"))
    rgb = np.asarray(open_rgb(path)).astype(int)
    assert rgb.shape == (16, 64, 3) and np.abs(rgb.mean(axis=2) - GREY).mean() < 8


def test_a_float_image_is_refused_with_the_reason(tmp_path):
    path = saved(tmp_path, "face.tif", Image.fromarray(GREY.astype(np.float32) / 255.0, mode="F"))
    with pytest.raises(ValueError, match="mode F"):
        open_rgb(path)


def test_liveness_fusion_and_frames_share_the_decoder(tmp_path):
    """A 16-bit PNG is the same picture to all three readers, not white."""
    saved(tmp_path, "face.png", MODES["16-bit greyscale PNG"]())
    frame = _decode_image(tmp_path / "face.png")
    fusion = np.asarray(read_image(tmp_path / "face.png", 64))
    assert np.array_equal(frame, fusion) and abs(frame.mean() - GREY.mean()) < 1
    crop = decode_image(tmp_path / "face.png", 16)
    assert crop.shape == (16, 16, 3) and crop.mean() < 200


@pytest.mark.parametrize("landscape", [True, False])
def test_resize_centre_crop_resizes_the_shorter_side_and_crops_the_middle(landscape):
    """200 x 100 (or 100 x 200) with a red band along the first 40 pixels of the long side: the shorter
    side goes to 50, the crop keeps the middle (original 50..150), so the band is cut off, not squeezed in."""
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :40, 0] = 255
    if not landscape:
        pixels = pixels.transpose(1, 0, 2).copy()
    crop = resize_centre_crop(Image.fromarray(pixels), 50)
    assert crop.shape == (50, 50, 3) and crop.dtype == np.uint8
    assert crop[..., 0].max() <= 8
