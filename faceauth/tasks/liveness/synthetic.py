"""A synthetic anti-spoofing dataset: procedurally drawn faces, live or presented as an attack.

    python -m faceauth.datasets liveness OUT_DIR --difficulty 0.5 --per-class 200 --image-size 64

Not real faces and not a benchmark: it lets the trainer, the search and the tests run with no data.
Each image is a face-like drawing (ellipse face with a lit 3-D shading, eyes, brows, mouth, hair,
neck and clothes on a cluttered background, skin tones from light to dark). What separates live
from spoof are the cues real attacks leave on a camera image:

- live: a 3-D lit face with fine skin texture, seen by a camera (sensor noise, slight focus blur);
- print: a photo on paper: reduced colour gamut and contrast, paper tint, halftone dots, sometimes
  the paper's edge in view;
- replay: a photo on a screen: moiré bands (two pixel grids beating), a sub-pixel stripe pattern,
  a cold colour cast and specular glare;
- mask: a rigid mask: flat shading, no skin texture, a blurred surface with a visible rim;
- cutout (with `attack_types=4`): a print with the eyes cut out and real eyes behind the holes.

With `domains=N` the same drawing is recorded by N cameras (faceauth.tasks.synthetic_domains), one
folder level each: `<domain>/{train,val,test}/...`, for the leave-one-domain-out protocol.

`difficulty` in [0, 1] fades the cues (their amplitude goes from 1 to 0.2 of full strength) and
gives that share of live images a confounder that looks like a cue (a lamp's glare, a soft focus,
washed-out colour), so that 0 is trivial and 1 is hard. Written as JPEG (quality 95) for both
classes alike, so compression itself is no cue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceauth.io.log import logger
from faceauth.io.files import generated_once
from faceauth.tasks.drawing import blur

ATTACK_TYPES = ("print", "replay", "mask")
# With `attack_types=4`: also a paper cut-out (a print with the eyes cut out, real eyes behind it).
ALL_ATTACK_TYPES = (*ATTACK_TYPES, "cutout")
# Bumped whenever the drawing changes, so generated folders in the cache are not reused across versions.
GENERATOR_VERSION = 3
README = """SYNTHETIC DATA - procedurally drawn face-like images, not photographs of people.

Written by `python -m faceauth.datasets liveness` (faceauth) with
    difficulty {difficulty}, {per_class} images per class in train and half as many in val and test,
    {image_size}x{image_size} px, seed {seed}.

Layout: {{train,val,test}}/live/*.jpg (bona fide) and {{train,val,test}}/spoof/{{{attack_list}}}/*.jpg
(attacks, one folder per attack type). Live and spoof differ by drawn imitations of the cues real
presentation attacks leave (halftone and gamut of prints; moire, glare and colour cast of screens;
the flat rigid surface of masks). Use it to exercise the pipeline, never to claim PAD performance.
"""

# Skin tones (sRGB, 0..1) from light to dark; one is picked per face and jittered.
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.92, 0.72, 0.58], [0.84, 0.62, 0.47],
    [0.72, 0.51, 0.36], [0.55, 0.37, 0.25], [0.38, 0.25, 0.17],
])
HAIR_COLOURS = np.array([[0.08, 0.06, 0.05], [0.25, 0.15, 0.08], [0.55, 0.40, 0.20], [0.85, 0.75, 0.50], [0.45, 0.45, 0.45]])


@dataclass(frozen=True)
class SyntheticSpec:
    difficulty: float = 0.5
    per_class: int = 200  # images per class (live, spoof) in train; val and test get half as many
    image_size: int = 64
    seed: int = 0
    attack_types: int = len(ATTACK_TYPES)  # how many of ALL_ATTACK_TYPES, in order
    # 0: the flat layout {train,val,test}/...; N: N camera domains, <domain>/{train,val,test}/...
    # (faceauth.tasks.synthetic_domains), each drawn from its own seed.
    domains: int = 0

    @property
    def attacks(self) -> tuple[str, ...]:
        return ALL_ATTACK_TYPES[:self.attack_types]

    def split_sizes(self) -> dict[str, int]:
        """Images per class in each split. Train gets the most: a CNN trained from scratch on a few
        hundred images memorises them; val and test need only enough for a stable EER."""
        return {"train": self.per_class, "val": self.per_class // 2, "test": self.per_class // 2}

    def folder_name(self) -> str:
        return (f"liveness-v{GENERATOR_VERSION}-d{self.difficulty:g}-n{self.per_class}"
                f"-s{self.image_size}-seed{self.seed}"
                + (f"-a{self.attack_types}" if self.attack_types != len(ATTACK_TYPES) else "")
                + (f"-dom{self.domains}" if self.domains else ""))


# ---------------------------------------------------------------------------------------------- drawing

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1]: (y, x), each (size, size)."""
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="ij")


def _ellipse(y, x, cy, cx, ry, rx) -> np.ndarray:
    """Soft-edged ellipse mask (about one pixel of anti-aliasing)."""
    r = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
    edge = 1.5 / (y.shape[0] * min(ry, rx))
    return np.clip((1 - r) / edge, 0, 1)


def _paint(image: np.ndarray, mask: np.ndarray, colour) -> None:
    image += mask[..., None] * (np.asarray(colour) - image)


def _fine_noise(rng: np.random.Generator, size: int, sigma: float = 0.7) -> np.ndarray:
    """Zero-mean, unit-scale noise correlated over about a pixel (skin pores, paper fibre)."""
    noise = blur(rng.standard_normal((size, size)), sigma)
    return noise / (noise.std() + 1e-8)


def draw_face(rng: np.random.Generator, size: int, shading: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A face-like scene: (image (size, size, 3) float in [0, 1], face mask, eye-socket mask), the
    masks (size, size) in [0, 1].

    `shading` scales the 3-D lighting of the face (1: a lit ellipsoid, 0: flat)."""
    y, x = _grid(size)
    top, bottom = rng.uniform(0.2, 0.9, 3), rng.uniform(0.1, 0.8, 3)
    image = top + (bottom - top) * y[..., None]  # a wall or room: a vertical gradient...
    for _ in range(rng.integers(1, 4)):  # ...with furniture-like blocks
        y0, x0 = rng.uniform(0, 0.9, 2)
        h, w = rng.uniform(0.1, 0.5, 2)
        block = ((y > y0) & (y < y0 + h) & (x > x0) & (x < x0 + w)).astype(float)
        _paint(image, block, rng.uniform(0.1, 0.9, 3))

    cy, cx = 0.5 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.06, 0.06)
    ry, rx = rng.uniform(0.30, 0.36), rng.uniform(0.22, 0.27)
    clothes = ((y > cy + ry * 0.85) & (np.abs(x - cx) < 0.2 + (y - cy - ry * 0.85) * 1.5)).astype(float)
    _paint(image, clothes, rng.uniform(0.05, 0.9, 3))
    skin = np.clip(SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.08, 3), 0, 1)
    neck = ((np.abs(x - cx) < rx * 0.45) & (y > cy) & (y < cy + ry * 1.15)).astype(float)
    _paint(image, neck, skin * 0.8)

    face = _ellipse(y, x, cy, cx, ry, rx)
    u, v = (x - cx) / rx, (y - cy) / ry
    nz = np.sqrt(np.clip(1 - u ** 2 - v ** 2, 0, 1))  # ellipsoid normal (u, v, nz)
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.3), 1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(u * light[0] + v * light[1] + nz * light[2], 0, 1)
    lit = (1 - 0.55 * shading) + 0.55 * shading * lambert
    _paint(image, face, skin * lit[..., None])

    hair = _ellipse(y, x, cy - ry * 0.12, cx, ry * 1.02, rx * 1.08) * (y < cy - ry * rng.uniform(0.45, 0.6))
    _paint(image, hair, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))])
    eye_y, eye_dx = cy - ry * 0.15, rx * rng.uniform(0.36, 0.44)
    iris = rng.uniform(0.05, 0.45, 3)
    sockets = np.zeros_like(face)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        sockets = np.maximum(sockets, _ellipse(y, x, eye_y, ex, ry * 0.13, rx * 0.3))
        _paint(image, _ellipse(y, x, eye_y, ex, ry * 0.07, rx * 0.2), [0.93, 0.93, 0.9])
        _paint(image, _ellipse(y, x, eye_y, ex, ry * 0.065, rx * 0.09), iris)
        _paint(image, _ellipse(y, x, eye_y, ex, ry * 0.03, rx * 0.04), [0.02, 0.02, 0.02])
        _paint(image, _ellipse(y, x, eye_y - ry * 0.16, ex, ry * 0.03, rx * 0.24), skin * 0.35)
    nose = _ellipse(y, x, cy + ry * 0.12, cx + rx * 0.05 * light[0], ry * 0.16, rx * 0.07)
    image *= 1 - 0.15 * shading * nose[..., None]
    mouth = _ellipse(y, x, cy + ry * 0.5, cx, ry * rng.uniform(0.04, 0.08), rx * rng.uniform(0.3, 0.42))
    _paint(image, mouth, np.clip(skin * [1.0, 0.55, 0.55] * 0.85, 0, 1))
    return np.clip(image, 0, 1), face, sockets


def _camera(rng: np.random.Generator, image: np.ndarray, sharpness: float = 1.0) -> np.ndarray:
    """What the camera adds to any scene: a little focus blur and sensor noise."""
    image = blur(image, rng.uniform(0.0, 0.6) / sharpness)
    image = image + rng.normal(0, rng.uniform(0.008, 0.025), image.shape)
    return np.clip(image, 0, 1)


def _live(rng: np.random.Generator, size: int, confound: bool) -> np.ndarray:
    image, face, _ = draw_face(rng, size)
    image *= 1 + rng.uniform(0.025, 0.045) * (face * _fine_noise(rng, size))[..., None]  # skin texture
    if confound:  # something that looks like an attack cue on a real face
        kind = rng.integers(3)
        if kind == 0:
            image = _glare(rng, image, 0.5)
        elif kind == 1:
            image = blur(image, rng.uniform(0.8, 1.5))
        else:
            gray = image.mean(axis=2, keepdims=True)
            image = gray + 0.7 * (image - gray)
    return _camera(rng, image)


def _glare(rng: np.random.Generator, image: np.ndarray, amount: float) -> np.ndarray:
    y, x = _grid(image.shape[0])
    cy, cx = rng.uniform(0.15, 0.85, 2)
    sy, sx = rng.uniform(0.05, 0.2, 2)
    spot = np.exp(-0.5 * (((y - cy) / sy) ** 2 + ((x - cx) / sx) ** 2))
    return image + (1 - image) * (amount * spot)[..., None]


def _print(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    image, _, _ = draw_face(rng, size)
    gray = image.mean(axis=2, keepdims=True)
    image = gray + (1 - 0.45 * strength) * (image - gray)  # ink gamut: less saturated...
    image = 0.08 * strength + (1 - 0.22 * strength) * image  # ...and less contrast (no deep black)
    image *= 1 - strength * np.array([0.0, 0.02, 0.07])  # warm paper white
    y, x = _grid(size)
    period = rng.uniform(2.6, 4.0) / size  # halftone screen, rotated
    angle = np.deg2rad(rng.choice([15.0, 45.0, 75.0]))
    a, b = (x * np.cos(angle) + y * np.sin(angle)) / period, (-x * np.sin(angle) + y * np.cos(angle)) / period
    dots = 0.5 + 0.5 * np.cos(2 * np.pi * a) * np.cos(2 * np.pi * b)
    image *= (1 - 0.22 * strength * dots)[..., None]
    image *= 1 + 0.04 * strength * _fine_noise(rng, size, 0.5)[..., None]  # paper fibre
    if rng.uniform() < 0.3 * strength:  # the sheet's edge in view
        side = rng.integers(4)
        edge = rng.uniform(0.03, 0.12)
        band = [y < edge, y > 1 - edge, x < edge, x > 1 - edge][side]
        _paint(image, band.astype(float), rng.uniform(0.75, 0.95) * np.ones(3))
    return _camera(rng, image)


def _replay(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    image, _, _ = draw_face(rng, size)
    y, x = _grid(size)
    image *= 1 + strength * np.array([-0.08, 0.0, 0.1])  # cold screen white
    # Moire: two fine gratings (the screen's pixels and the camera's) at a small angle beat into
    # slow bands; the phase differs per channel, so the bands are coloured.
    f = size * rng.uniform(0.28, 0.4)
    t1, t2 = rng.uniform(0, np.pi), rng.uniform(0.03, 0.12)
    g1 = np.cos(2 * np.pi * f * (x * np.cos(t1) + y * np.sin(t1)))
    phases = rng.uniform(0, 2 * np.pi) + np.array([0.0, 0.9, 1.8])
    g2 = np.cos(2 * np.pi * f * (x * np.cos(t1 + t2) + y * np.sin(t1 + t2))[..., None] + phases)
    image *= 1 + 0.3 * strength * g1[..., None] * g2
    stripes = np.cos(2 * np.pi * (np.arange(size)[None, :, None] / 3 - np.array([0, 1, 2]) / 3))  # RGB sub-pixels
    image *= 1 + 0.15 * strength * stripes
    image = _glare(rng, image, 0.65 * strength)
    return _camera(rng, np.clip(image, 0, 1))


def _mask(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    image, face, sockets = draw_face(rng, size, shading=1 - 0.7 * strength)  # rigid and flat-lit
    smooth = blur(image, 2.0 * strength)  # no pores: a moulded, slightly blurred surface
    image = image + face[..., None] * (smooth - image)
    gray = image.mean(axis=2, keepdims=True)
    image = image + strength * face[..., None] * (0.25 * (gray - image) + 0.06)  # plastic, paler tone
    rim = face * (1 - face) * 4  # the mask's edge: a thin dark line around the face
    hole_edges = sockets * (1 - sockets) * 4  # the shadowed edges of the eye holes
    image *= (1 - 0.6 * strength * np.maximum(rim, hole_edges))[..., None]
    return _camera(rng, np.clip(image, 0, 1))


def _cutout(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    """A paper cut-out: a print of a face with the eyes cut out and a real face's eyes behind the holes.
    The same face is drawn twice (the generator's state replayed): printed, and live for the eyes."""
    state = rng.bit_generator.state
    printed = _print(rng, size, strength)
    after = rng.bit_generator.state
    rng.bit_generator.state = state
    _, _, sockets = draw_face(rng, size)
    rng.bit_generator.state = state
    live = _live(rng, size, confound=False)
    rng.bit_generator.state = after
    holes = np.clip(1.6 * sockets, 0, 1)[..., None]
    rim = (holes * (1 - holes) * 4) * strength  # the cut paper's edge
    return np.clip(printed * (1 - holes) + live * holes - 0.35 * rim, 0, 1)


def draw_sample(rng: np.random.Generator, size: int, kind: str, difficulty: float) -> np.ndarray:
    """One image as uint8 (size, size, 3); `kind` is "live" or an attack type."""
    strength = (1 - 0.8 * difficulty) * rng.uniform(0.75, 1.25)
    if kind == "live":
        image = _live(rng, size, confound=rng.uniform() < 0.5 * difficulty)
    else:
        image = {"print": _print, "replay": _replay, "mask": _mask, "cutout": _cutout}[kind](rng, size, strength)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- writing

def write_dataset(out_dir: str | Path, spec: SyntheticSpec, quiet: bool = False) -> Path:
    """Write the documented layout under `out_dir` (which must be new or empty) and a README.txt."""
    from PIL import Image

    from faceauth.tasks.synthetic_domains import dataset_roots

    out, roots = dataset_roots(out_dir, spec.domains, spec.seed)
    cameras = [camera for _, camera, _ in roots]
    for domain_index, camera, base in roots:
        seed = [spec.seed] if camera is None else [spec.seed, 1000 + domain_index]
        for split_index, (split, count) in enumerate(spec.split_sizes().items()):
            jobs = [("live", i) for i in range(count)]
            jobs += [(spec.attacks[i % len(spec.attacks)], i) for i in range(count)]
            for kind, i in jobs:
                # One generator per image: the dataset does not depend on the order images are drawn in.
                rng = np.random.default_rng([*seed, split_index, 0 if kind == "live" else 1, i])
                folder = base / split / ("live" if kind == "live" else f"spoof/{kind}")
                folder.mkdir(parents=True, exist_ok=True)
                image = draw_sample(rng, spec.image_size, kind, spec.difficulty)
                if camera is not None:
                    image = camera.apply(image, rng)
                Image.fromarray(image).save(folder / f"{i:05d}.jpg", quality=95)
    (out / "README.txt").write_text(README.format(**spec.__dict__, attack_list=",".join(spec.attacks))
                                    + (f"\nCamera domains (one folder level above the splits): {cameras}\n" if spec.domains else ""))
    if not quiet:
        logger.info(f"wrote a SYNTHETIC liveness dataset (procedurally drawn faces, not real data) to {out}: "
              f"{spec.per_class} live + {spec.per_class} spoof ({', '.join(spec.attacks)}) images in train, half as many "
              "in val and test" + (f", in each of {spec.domains} camera domains" if spec.domains else "") + ", "
              f"difficulty {spec.difficulty:g}, {spec.image_size}x{spec.image_size} px, seed {spec.seed}")
    return out


def cached_dataset(cache_dir: str | Path, spec: SyntheticSpec) -> Path:
    """The dataset for `spec` under `<cache_dir>/synthetic/`, generated once and reused by every run.

    Generated into a temporary folder and renamed into place (atomic), under a lock, so concurrent
    trials on a node neither read a half-written dataset nor draw it twice."""
    target = Path(cache_dir).expanduser() / "synthetic" / spec.folder_name()
    if generated_once(target, lambda folder: write_dataset(folder, spec, quiet=True)):
        logger.info(f"generated SYNTHETIC liveness data (procedurally drawn faces, not real data) in {target}")
    return target
