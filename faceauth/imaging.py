"""Image preprocessing shared by the image models and by frame extractors that reuse them."""

from __future__ import annotations

from typing import Any

import numpy as np


def resize_centre_crop(image: Any, size: int) -> np.ndarray:
    """A PIL image as RGB uint8 (size, size, 3): the shorter side resized to `size` (bilinear,
    antialiased), then a centre crop. The preprocessing a liveness model's deployment info states."""
    from PIL import Image

    width, height = image.size
    scale = size / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((new_width, new_height), Image.Resampling.BILINEAR)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
