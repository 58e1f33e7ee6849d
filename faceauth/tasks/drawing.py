"""Drawing helpers the synthetic image generators share (the liveness images and the camera domains
drawn over them): plain numpy, no task imports, so every generator may import them."""

from __future__ import annotations

import numpy as np


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (sigma in pixels), edges replicated."""
    if sigma < 0.3:
        return image
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in (0, 1):
        padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in range(image.ndim)], mode="edge")
        n = image.shape[axis]
        image = sum(t * np.take(padded, np.arange(i, i + n), axis=axis) for i, t in enumerate(taps))
    return image
