"""Camera domains for the synthetic PAD generators: the same kind of scene seen through other sensors.

A generated dataset with N domains is laid out `root/<domain>/{train,val,test}/{live,spoof/<attack>}/`
(faceauth.tasks.protocols reads that level). Each domain is one camera with its own colour response and
conditions, applied to every image or frame of that domain alike, live and attack:

- white balance: per-channel gains (a warm or cold cast);
- exposure and gamma (a bright or dark, flat or contrasty sensor);
- saturation (a washed-out or vivid colour pipeline);
- sensor noise and lens blur (a small cheap sensor or a sharp one).

So a domain shifts the image statistics a texture or colour classifier leans on, while the attack
cues themselves (halftone, moire, rigid motion, blinks) stay: what a model learns from one camera
has to carry to another, as in OULU-NPU's unseen-camera protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# One blur for every generator: the liveness drawing's (separable Gaussian, edges replicated).
from faceauth.tasks.drawing import blur

DOMAIN_NAMES = ("cam_a", "cam_b", "cam_c", "cam_d", "cam_e", "cam_f")


@dataclass(frozen=True)
class CameraDomain:
    name: str
    gains: tuple[float, float, float]
    exposure: float
    gamma: float
    saturation: float
    noise: float  # sensor noise std on [0, 1] values
    blur: float  # lens blur sigma in pixels at 64 px

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 (H, W, 3) -> uint8 (H, W, 3) as this camera would have recorded the scene."""
        x = image.astype(np.float64) / 255.0
        if self.blur >= 0.3:
            x = blur(x, self.blur * image.shape[0] / 64)
        x = x * np.asarray(self.gains) * self.exposure
        x = np.clip(x, 0, None) ** self.gamma
        grey = x.mean(axis=2, keepdims=True)
        x = grey + self.saturation * (x - grey)
        x = x + rng.normal(0, self.noise, x.shape)
        return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def camera_domains(count: int, seed: int = 0) -> list[CameraDomain]:
    """`count` cameras, drawn from `seed`; the first is close to neutral, the others spread out."""
    if not 1 <= count <= len(DOMAIN_NAMES):
        raise ValueError(f"between 1 and {len(DOMAIN_NAMES)} domains, got {count}")
    rng = np.random.default_rng([seed, 7919])
    domains = []
    for index, name in enumerate(DOMAIN_NAMES[:count]):
        spread = 0.25 if index == 0 else 1.0
        domains.append(CameraDomain(
            name=name,
            gains=tuple(float(g) for g in np.exp(rng.uniform(-0.12, 0.12, 3) * spread)),
            exposure=float(np.exp(rng.uniform(-0.25, 0.2) * spread)),
            gamma=float(np.exp(rng.uniform(-0.3, 0.3) * spread)),
            saturation=float(np.exp(rng.uniform(-0.4, 0.25) * spread)),
            noise=float(rng.uniform(0.0, 0.03) * spread),
            blur=float(rng.uniform(0.0, 1.0) * spread),
        ))
    return domains


def dataset_roots(out_dir: str | Path, domains: int, seed: int) -> tuple[Path, list[tuple[int, CameraDomain | None, Path]]]:
    """Where a generator writes: `out_dir` (refused unless new or empty) and, per camera domain, (index,
    camera, the folder its splits go in); without domains one entry (0, None, out_dir)."""
    from faceauth.io.errors import FaceauthError

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FaceauthError(f"{out} exists and is not empty; pass a new or empty folder for the synthetic dataset")
    cameras = camera_domains(domains, seed) if domains else [None]
    return out, [(index, camera, out / camera.name if camera else out) for index, camera in enumerate(cameras)]
