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


def open_rgb(path: Any, draft_side: int | None = None) -> Any:
    """An image file as an upright 8-bit RGB PIL image, whatever its mode: the one decoder of face
    images and video frames. Pillow's `convert("RGB")` clips 16-bit greyscale (I;16, and I from a
    16-bit PNG) to white instead of scaling it, so those are scaled to 8 bits first; palette,
    alpha, CMYK and 1-bit images convert as they are; float images (F) have no agreed range and are
    refused, naming the file. `draft_side`: let JPEGs decode at a reduced scale (Pillow's draft mode).
    Raises what Pillow raises for a file it cannot read, or ValueError for a mode it cannot place."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        if draft_side:
            image.draft("RGB", (draft_side, draft_side))
        image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I;16") or image.mode == "I":
            pixels = np.asarray(image).astype(np.float64)
            if image.mode == "I" and pixels.max(initial=0) <= 255 and pixels.min(initial=0) >= 0:
                scale = 1.0  # 8-bit values held in 32 bits
            elif pixels.min(initial=0) < 0 or pixels.max(initial=0) > 65535:
                raise ValueError(f"{image.mode} image with values outside 0..65535; save it as 8- or 16-bit PNG or JPEG")
            else:
                scale = 255.0 / 65535.0
            image = Image.fromarray(np.clip(np.round(pixels * scale), 0, 255).astype(np.uint8), mode="L")
        elif image.mode == "F":
            raise ValueError("32-bit float image (mode F) has no agreed pixel range; save it as 8- or 16-bit PNG or JPEG")
        return image.convert("RGB")
