"""A synthetic video anti-spoofing dataset: short clips of a drawn face, live or presented as an attack.

    python -m faceauth.datasets temporal OUT_DIR --per-class 24 --frames 32 --size 64 --difficulty 0.7
    python -m faceauth.datasets temporal OUT_DIR --regime faint_small      # a named regime (REGIMES)

Not real faces and not a benchmark: it lets the temporal trainer, the search and the tests run with
no data. Each clip is a face-like drawing (an ellipse face with shading, eyes, brows and mouth on a
cluttered background) filmed by a still camera with sensor noise. What separates the classes are
the cues real attacks leave over time:

- live: the head sways a little against a still background, the eyes blink at random moments and
  the mouth moves;
- replay: a recorded live clip shown on a screen held in front of the camera: the whole picture
  moves rigidly with the hand, the screen's refresh flickers, and moire bands (two pixel grids
  beating) and a cold colour cast cover it;
- print: one still capture on paper, held by hand: rigid planar motion of the whole picture, no
  blinks and no motion of the face inside it, halftone dots, washed-out colour and sometimes glare;
- mask and cutout (with `attack_types` 3 and 4): a worn rigid mask (the head sways, but no blinks and
  no mouth motion; a pale plastic tone) and a print with the eyes cut out (rigid paper motion and
  halftone, but real eyes blinking behind it).

With `domains=N` every clip is recorded by one of N cameras (faceauth.tasks.synthetic_domains), one
folder level each: `<domain>/{train,val,test}/...`, for the leave-one-domain-out protocol.

Static cues (moire, cast, halftone, washed-out colour, glare) and temporal ones (blinks, mouth,
rigid motion, flicker) are set apart so that a regime can take the static ones away and leave time
to carry the signal: `static_cue` scales the static ones (default `1 - 0.8 * difficulty`);
`difficulty` also gives that share of live clips a confounder (a shaking camera, a flickering lamp).
`blink_rate` (blinks per 24 frames), `shake` (how far hands and cameras move) and `light_drift`
(a slow exposure and white-balance drift in every clip) vary the rest. `REGIMES` names mixes from
obvious to nearly static-free; the temporal defaults were tuned on `TUNING_REGIMES` only, and the
quality gate (tests/integration/test_temporal_gate.py) checks the others. Each split holds frame folders (PNG) and,
for each class and attack type, one video file: live as .mp4 (H.264, lossless), attacks as .avi
(FFV1, lossless), so both decoding paths are exercised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from faceauth.io.log import logger
from faceauth.io.errors import FaceauthError
from faceauth.io.files import generated_once
from faceauth.io.layout import SPLITS

ATTACK_TYPES = ("print", "replay")
# With `attack_types` 3 or 4: also a worn mask and a paper cut-out (mask_clip, cutout_clip).
ALL_ATTACK_TYPES = (*ATTACK_TYPES, "mask", "cutout")
SPLIT_SHARE = {"train": 1.0, "val": 0.5, "test": 0.5}  # val and test hold half as many videos as train
# Bumped whenever the drawing changes, so generated folders in the cache are not reused across versions.
GENERATOR_VERSION = 2
FPS = 15
README = """SYNTHETIC DATA - procedurally drawn face-like video clips, not recordings of people.

Written by faceauth (faceauth.tasks.temporal.synthetic.generate_temporal_dataset) with
    {videos_per_class} videos per class in train ({val_count} in val and test), {frames} frames of
    {size}x{size} px each, difficulty {difficulty}, static cue {static_cue:g}, {blink_rate:g} blinks per
    24 frames, shake {shake:g}, light drift {light_drift:g}, seed {seed}.

Layout: {{train,val,test}}/live/<video> (bona fide) and {{train,val,test}}/spoof/{{{attack_list}}}/<video>
(attacks, one folder per attack type). A video is a folder of PNG frames or one file (.mp4 for live,
.avi for attacks). Live and spoof differ by drawn imitations of the temporal cues real presentation
attacks leave (blinks and head motion against a still background; rigid motion, flicker and moire
of screens; halftone and stillness of prints). Use it to exercise the pipeline, never to claim PAD
performance.
"""


@dataclass(frozen=True)
class SyntheticSpec:
    videos_per_class: int = 24  # in train; val and test get half (at least 2 per attack type: a file and a folder)
    frames: int = 32
    size: int = 64
    difficulty: float = 0.7
    seed: int = 0
    static_cue: float | None = None  # 0 (none) .. 1 (obvious); None: 1 - 0.8 * difficulty
    blink_rate: float = 1.5  # mean blinks per 24 frames of a live face, at random moments
    shake: float = 1.0  # scales the hand motion of attacks and the camera shake of live confounders
    light_drift: float = 0.0  # amplitude of a slow exposure / white-balance drift in every clip
    attack_types: int = len(ATTACK_TYPES)  # how many of ALL_ATTACK_TYPES, in order
    # 0: the flat layout {train,val,test}/...; N: N camera domains, <domain>/{train,val,test}/...
    # (faceauth.tasks.synthetic_domains), each drawn from its own seed.
    domains: int = 0

    @property
    def attacks(self) -> tuple[str, ...]:
        return ALL_ATTACK_TYPES[:self.attack_types]

    @property
    def static(self) -> float:
        return 1.0 - 0.8 * self.difficulty if self.static_cue is None else self.static_cue

    def folder_name(self) -> str:
        return (f"temporal-v{GENERATOR_VERSION}-n{self.videos_per_class}-f{self.frames}-s{self.size}"
                f"-d{self.difficulty:g}-c{self.static:g}-b{self.blink_rate:g}-h{self.shake:g}-l{self.light_drift:g}"
                f"-seed{self.seed}" + (f"-a{self.attack_types}" if self.attack_types != len(ATTACK_TYPES) else "")
                + (f"-dom{self.domains}" if self.domains else ""))

    def count(self, split: str) -> int:
        return max(2 * len(self.attacks), round(self.videos_per_class * SPLIT_SHARE[split]))


# Named regimes: the frame size, clip length and cue mix of a kind of video (SyntheticSpec fields).
# Defaults were chosen on TUNING_REGIMES; HELD_OUT_REGIMES were not looked at while choosing them and
# are what the quality gate (tests/integration/test_temporal_gate.py) and benchmarks/temporal_regimes.py report.
REGIMES: dict[str, dict[str, float]] = {
    # tuning
    "obvious": dict(frames=32, size=64, difficulty=0.3, static_cue=1.0),
    "standard": dict(frames=24, size=64, difficulty=0.7, static_cue=0.4),
    "weak_static": dict(frames=24, size=48, difficulty=0.7, static_cue=0.15),
    # held out
    "faint_small": dict(frames=24, size=48, difficulty=0.8, static_cue=0.08, blink_rate=1.0),
    "no_static": dict(frames=24, size=64, difficulty=0.7, static_cue=0.0),
    "shaky_drift": dict(frames=24, size=56, difficulty=0.7, static_cue=0.15, shake=2.0, light_drift=0.08),
    "rare_blinks": dict(frames=32, size=64, difficulty=0.7, static_cue=0.15, blink_rate=0.6),
    "long_large": dict(frames=40, size=96, difficulty=0.7, static_cue=0.15),
}
TUNING_REGIMES = ("obvious", "standard", "weak_static")
HELD_OUT_REGIMES = tuple(name for name in REGIMES if name not in TUNING_REGIMES)


def regime_spec(name: str, videos_per_class: int = 24, seed: int = 0) -> SyntheticSpec:
    if name not in REGIMES:
        raise FaceauthError(f"unknown synthetic regime '{name}'; choose one of {', '.join(REGIMES)}")
    return SyntheticSpec(videos_per_class=videos_per_class, seed=seed, **REGIMES[name])


# ---------------------------------------------------------------------------------------------- drawing

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1]: (y, x), each (size, size)."""
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="ij")


def _ellipse(y, x, cy, cx, ry, rx) -> np.ndarray:
    """Soft-edged ellipse mask (about one pixel of anti-aliasing)."""
    r = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
    return np.clip((1.0 - r) * y.shape[0] * min(ry, rx) / 1.5 + 0.5, 0.0, 1.0)


@dataclass(frozen=True)
class Scene:
    """What stays fixed in one clip: the background, the face's look, its sway, blinks and mouth."""

    background: np.ndarray  # (S, S, 3)
    skin: np.ndarray  # (3,)
    centre: tuple[float, float]
    radii: tuple[float, float]
    sway: tuple[float, float, float, float]  # amplitude x, amplitude y, period (frames), phase
    blinks: tuple[int, ...]  # frames where a blink starts
    mouth: np.ndarray  # (frames,) how far the mouth is open, 0 .. 1


def random_blinks(rng: np.random.Generator, frames: int, per_24: float) -> tuple[int, ...]:
    """Blink starts at random moments (a Poisson process, at least 5 frames apart) and at least one,
    somewhere in the clip, so every live clip shows the cue once."""
    starts, t = [], int(rng.integers(0, max(1, frames - 3)))
    starts.append(t)
    rate = per_24 / 24.0
    for u in range(frames):
        if abs(u - t) >= 5 and all(abs(u - b) >= 5 for b in starts) and rng.random() < rate:
            starts.append(u)
    return tuple(sorted(starts))


def mouth_track(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Speech-like mouth opening: smoothed random bursts, 0 (closed) .. 1."""
    raw = np.clip(rng.normal(0, 1, frames + 4), 0, None) * (rng.random(frames + 4) < 0.5)
    smooth = np.convolve(raw, np.ones(3) / 3, mode="same")[2:-2]
    return np.clip(smooth / (smooth.max() + 1e-9), 0, 1) * rng.uniform(0.5, 1.0)


def random_scene(rng: np.random.Generator, size: int, frames: int, blink_rate: float = 1.5) -> Scene:
    y, x = _grid(size)
    base = rng.uniform(0.15, 0.85, 3)
    slope = rng.uniform(-0.25, 0.25, 3)
    background = base + slope * (x[..., None] if rng.random() < 0.5 else y[..., None])
    for _ in range(rng.integers(2, 5)):  # clutter: a few flat boxes
        top, left = rng.uniform(0, 0.8, 2)
        h, w = rng.uniform(0.1, 0.4, 2)
        box = (y > top) & (y < top + h) & (x > left) & (x < left + w)
        background[box] = rng.uniform(0.1, 0.9, 3)
    skin = np.array([0.92, 0.72, 0.58]) * rng.uniform(0.45, 1.05) + rng.normal(0, 0.03, 3)
    return Scene(
        background=np.clip(background, 0, 1), skin=np.clip(skin, 0.05, 1),
        centre=(rng.uniform(0.45, 0.55), rng.uniform(0.44, 0.56)), radii=(rng.uniform(0.26, 0.32), rng.uniform(0.19, 0.24)),
        sway=(rng.uniform(0.01, 0.03), rng.uniform(0.005, 0.015), rng.uniform(16, 40), rng.uniform(0, 2 * np.pi)),
        blinks=random_blinks(rng, frames, blink_rate), mouth=mouth_track(rng, frames),
    )


def eye_openness(scene: Scene, t: int) -> float:
    """1 open .. 0 closed: a blink closes the eyes over two frames and opens them over two."""
    for start in scene.blinks:
        phase = t - start
        if 0 <= phase < 4:
            return (0.5, 0.0, 0.0, 0.5)[phase]
    return 1.0


def draw_face(scene: Scene, t: float, openness: float, size: int, mouth: float = 0.0) -> np.ndarray:
    """One frame of the scene: the face at its position at time t (frames) on the background."""
    y, x = _grid(size)
    ax, ay, period, phase = scene.sway
    cy = scene.centre[0] + ay * np.sin(2 * np.pi * t / period * 0.7 + phase)
    cx = scene.centre[1] + ax * np.sin(2 * np.pi * t / period + phase)
    ry, rx = scene.radii
    face = _ellipse(y, x, cy, cx, ry, rx)[..., None]
    shading = 1.0 - 0.35 * np.clip((x - cx) / rx, -1, 1)[..., None] * 0.5  # lit from the left
    image = scene.background * (1 - face) + scene.skin * shading * face
    dark = np.zeros((size, size))
    for side in (-1, 1):
        ex = cx + side * 0.38 * rx
        ey = cy - 0.18 * ry
        dark = np.maximum(dark, _ellipse(y, x, ey, ex, 0.07 * ry * max(openness, 0.12), 0.2 * rx))  # eye (a slit when closed)
        dark = np.maximum(dark, 0.6 * _ellipse(y, x, ey - 0.17 * ry, ex, 0.035 * ry, 0.26 * rx))  # brow
    dark = np.maximum(dark, 0.7 * _ellipse(y, x, cy + 0.45 * ry, cx, 0.05 * ry * (1 + 2.5 * mouth), 0.32 * rx))  # mouth
    return image * (1 - 0.8 * dark[..., None])


def shift(image: np.ndarray, dy: float, dx: float, zoom: float = 1.0) -> np.ndarray:
    """The image moved rigidly (bilinear, edges repeated): how a held photo or screen moves."""
    size = image.shape[0]
    c = (size - 1) / 2
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    sy = np.clip((yy - c) / zoom + c - dy, 0, size - 1)
    sx = np.clip((xx - c) / zoom + c - dx, 0, size - 1)
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    y1, x1 = np.minimum(y0 + 1, size - 1), np.minimum(x0 + 1, size - 1)
    wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]
    top = image[y0, x0] * (1 - wx) + image[y0, x1] * wx
    bottom = image[y1, x0] * (1 - wx) + image[y1, x1] * wx
    return top * (1 - wy) + bottom * wy


def hand_motion(rng: np.random.Generator, frames: int, pixels: float) -> np.ndarray:
    """(frames, 3): dy, dx (pixels) and zoom of a hand holding a photo or screen: a smooth random walk."""
    steps = rng.normal(0, 1, (frames, 3)).cumsum(axis=0)
    kernel = np.ones(5) / 5
    smooth = np.stack([np.convolve(steps[:, i], kernel, mode="same") for i in range(3)], axis=1)
    smooth -= smooth.mean(axis=0)
    scale = pixels / (np.abs(smooth[:, :2]).max() + 1e-9)
    return np.column_stack([smooth[:, :2] * scale, 1 + 0.01 * smooth[:, 2] / (np.abs(smooth[:, 2]).max() + 1e-9)])


def scaled(pixels: float, size: int) -> float:
    """Motion drawn for 64 px frames, in this frame size's pixels."""
    return pixels * size / 64


def live_clip(rng: np.random.Generator, spec: SyntheticSpec, confounders: bool = True) -> list[np.ndarray]:
    """A face filmed by a still camera; with probability `difficulty` the camera shakes a little or a
    lamp flickers (a live clip that shows an attack-like cue)."""
    scene = random_scene(rng, spec.size, spec.frames, spec.blink_rate)
    shaking = confounders and rng.random() < 0.5 * spec.difficulty
    shake = hand_motion(rng, spec.frames, scaled(rng.uniform(0.5, 1.5) * spec.shake, spec.size)) if shaking else None
    lamp = 0.03 * spec.difficulty if confounders and rng.random() < 0.5 * spec.difficulty else 0.0
    lamp_period = rng.uniform(3, 7)
    frames = []
    for t in range(spec.frames):
        image = draw_face(scene, t, eye_openness(scene, t), spec.size, scene.mouth[t])
        if shake is not None:
            image = shift(image, *shake[t])
        frames.append(image * (1 + lamp * np.sin(2 * np.pi * t / lamp_period)))
    return frames


def replay_clip(rng: np.random.Generator, spec: SyntheticSpec) -> list[np.ndarray]:
    """A live clip replayed on a screen held in front of the camera: moire and a cold cast (static),
    refresh flicker and the hand's rigid motion (temporal)."""
    size, cue = spec.size, spec.static
    y, x = _grid(size)
    angle, period = rng.uniform(0, np.pi), rng.uniform(2.2, 3.5)  # moire: a fine grating (pixels)
    grating = np.sin(2 * np.pi * size * (x * np.cos(angle) + y * np.sin(angle)) / period)[..., None]
    cast = np.array([-0.04, 0.0, 0.06]) * cue
    flicker, flicker_period = rng.uniform(0.015, 0.04), rng.uniform(2.5, 6)
    motion = hand_motion(rng, spec.frames, scaled(rng.uniform(1.0, 2.5) * spec.shake, size))
    frames = []
    for t, image in enumerate(live_clip(rng, spec, confounders=False)):  # the confounders are live's
        screen = 0.08 + 0.86 * image + cast + 0.07 * cue * grating
        screen *= 1 + flicker * np.sin(2 * np.pi * t / flicker_period)
        frames.append(shift(screen, *motion[t]))
    return frames


def print_clip(rng: np.random.Generator, spec: SyntheticSpec) -> list[np.ndarray]:
    """One still capture on paper, held by hand: halftone, washed-out colour and glare (static), the
    hand's rigid motion and nothing moving inside the face (temporal)."""
    size, cue = spec.size, spec.static
    y, x = _grid(size)
    scene = random_scene(rng, size, spec.frames, spec.blink_rate)
    t0 = int(rng.integers(0, spec.frames))
    photo = draw_face(scene, t0, eye_openness(scene, t0), size, scene.mouth[t0])
    grey = photo.mean(axis=2, keepdims=True)
    photo = grey + (1 - 0.35 * cue) * (photo - grey)  # washed-out colour
    photo = 0.1 * cue + (1 - 0.2 * cue) * photo + np.array([0.03, 0.02, -0.02]) * cue  # lower contrast, paper tint
    period = rng.uniform(2.5, 3.5)
    dots = (0.5 + 0.5 * np.cos(2 * np.pi * size * x / period) * np.cos(2 * np.pi * size * y / period))[..., None]
    photo = photo * (1 - 0.14 * cue * dots)
    if rng.random() < 0.5:  # glossy paper: a soft specular highlight
        gy, gx = rng.uniform(0.2, 0.8, 2)
        photo = photo + 0.5 * cue * np.exp(-((y - gy) ** 2 + (x - gx) ** 2) / 0.01)[..., None]
    motion = hand_motion(rng, spec.frames, scaled(rng.uniform(1.0, 2.5) * spec.shake, size))
    return [shift(photo, *motion[t]) for t in range(spec.frames)]


def mask_clip(rng: np.random.Generator, spec: SyntheticSpec) -> list[np.ndarray]:
    """A rigid mask worn by a person: the head sways as a live one does, but the eyes never blink
    and the mouth never moves (temporal); a paler, flatter plastic tone (static)."""
    scene = random_scene(rng, spec.size, spec.frames, spec.blink_rate)
    scene = replace(scene, blinks=(), mouth=np.zeros(spec.frames))
    cue = spec.static
    frames = []
    for t in range(spec.frames):
        image = draw_face(scene, t, 1.0, spec.size)
        grey = image.mean(axis=2, keepdims=True)
        frames.append(image + cue * (0.25 * (grey - image) + 0.05))
    return frames


def cutout_clip(rng: np.random.Generator, spec: SyntheticSpec) -> list[np.ndarray]:
    """A printed photo with the eyes cut out, held in front of a face: the paper's rigid hand motion
    and halftone as for a print, but real eyes behind the holes that blink."""
    size, cue = spec.size, spec.static
    y, x = _grid(size)
    scene = random_scene(rng, size, spec.frames, spec.blink_rate)
    t0 = int(rng.integers(0, spec.frames))
    open_eyes = draw_face(scene, t0, 1.0, size, scene.mouth[t0])
    grey = open_eyes.mean(axis=2, keepdims=True)
    photo = 0.1 * cue + (1 - 0.2 * cue) * (grey + (1 - 0.35 * cue) * (open_eyes - grey))
    period = rng.uniform(2.5, 3.5)
    dots = (0.5 + 0.5 * np.cos(2 * np.pi * size * x / period) * np.cos(2 * np.pi * size * y / period))[..., None]
    photo = photo * (1 - 0.14 * cue * dots)
    motion = hand_motion(rng, spec.frames, scaled(rng.uniform(1.0, 2.5) * spec.shake, size))
    # Only the eyes differ between a blink frame and the open-eyed capture: that difference shows through.
    return [shift(photo + draw_face(scene, t0, eye_openness(scene, t), size, scene.mouth[t0]) - open_eyes, *motion[t])
            for t in range(spec.frames)]


def film(frames: list[np.ndarray], rng: np.random.Generator, light_drift: float = 0.0) -> list[np.ndarray]:
    """What the camera records: a slow exposure / white-balance drift, sensor noise, quantised to uint8."""
    n = len(frames)
    ramp = np.linspace(-0.5, 0.5, n) * rng.choice((-1, 1))
    tint = 1 + light_drift * ramp[:, None] * (1 + rng.uniform(-0.5, 0.5, 3))
    return [np.clip((f * tint[t] + rng.normal(0, 0.015, f.shape)) * 255 + 0.5, 0, 255).astype(np.uint8)
            for t, f in enumerate(frames)]


def draw_clip(kind: str, rng: np.random.Generator, spec: SyntheticSpec) -> list[np.ndarray]:
    clip = {"live": lambda: live_clip(rng, spec), "replay": lambda: replay_clip(rng, spec),
            "print": lambda: print_clip(rng, spec), "mask": lambda: mask_clip(rng, spec),
            "cutout": lambda: cutout_clip(rng, spec)}[kind]()
    return film(clip, rng, spec.light_drift)


# ---------------------------------------------------------------------------------------------- writing

def write_frames(folder: Path, frames: list[np.ndarray]) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame_{index:04d}.png", compress_level=1)


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    """Lossless, so the cues survive: .mp4 as H.264 (qp 0, 4:4:4), .avi as FFV1. One encoder thread."""
    import av

    codec, pix_fmt, options = ("libx264", "yuv444p", {"qp": "0"}) if path.suffix == ".mp4" else ("ffv1", "bgr0", {})
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt, stream.options = width, height, pix_fmt, options
        stream.codec_context.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def generate_temporal_dataset(out_dir: str | Path, videos_per_class: int = 24, frames: int = 32, size: int = 64,
                              difficulty: float = 0.7, seed: int = 0, quiet: bool = False, **cues: float) -> Path:
    """Write {train,val,test}/live/ and {train,val,test}/spoof/{print,replay}/ clips and a README.txt.
    `cues`: the other SyntheticSpec fields (static_cue, blink_rate, shake, light_drift)."""
    return write_dataset(out_dir, SyntheticSpec(videos_per_class, frames, size, difficulty, seed, **cues), quiet)


def write_dataset(out_dir: str | Path, spec: SyntheticSpec, quiet: bool = False) -> Path:
    """Train holds `videos_per_class` live and as many attack clips (split evenly between the attack
    types); val and test hold half as many. The first clip of each class and attack type in a split
    is a video file, the others are folders of PNG frames."""
    from faceauth.tasks.synthetic_domains import dataset_roots

    _check_spec(spec)
    out, roots = dataset_roots(out_dir, spec.domains, spec.seed)
    cameras = [camera for _, camera, _ in roots]
    for domain_index, camera, base in roots:
        for split_index, split in enumerate(SPLITS):
            rng = np.random.default_rng([spec.seed, split_index] + ([1000 + domain_index] if camera else []))
            count, attacks = spec.count(split), spec.attacks
            groups = [("live", base / split / "live", count)]
            groups += [(kind, base / split / "spoof" / kind, count // len(attacks) + (i < count % len(attacks)))
                       for i, kind in enumerate(attacks)]
            for kind, folder, number in groups:
                folder.mkdir(parents=True, exist_ok=True)
                for index in range(number):
                    clip = draw_clip(kind, rng, spec)
                    if camera is not None:
                        clip = [camera.apply(frame, rng) for frame in clip]
                    if index == 0:
                        write_video(folder / f"{kind}_{index:03d}{'.mp4' if kind == 'live' else '.avi'}", clip)
                    else:
                        write_frames(folder / f"{kind}_{index:03d}", clip)
    (out / "README.txt").write_text(README.format(val_count=spec.count("val"), static_cue=spec.static,
                                                  attack_list=",".join(spec.attacks),
                                                  **{k: v for k, v in asdict(spec).items() if k != "static_cue"})
                                    + (f"\nCamera domains (one folder level above the splits): {cameras}\n" if camera else ""))
    if not quiet:
        logger.info(f"wrote SYNTHETIC temporal data (drawn faces, not real videos) to {out}")
    return out


def _check_spec(spec: SyntheticSpec) -> None:
    if spec.videos_per_class < 2 * len(spec.attacks):
        raise FaceauthError(f"videos per class must be at least {2 * len(spec.attacks)} (2 per attack type), "
                            f"got {spec.videos_per_class}")
    if spec.frames < 2 or spec.size < 16:
        raise FaceauthError(f"need at least 2 frames of at least 16 px, got {spec.frames} frames of {spec.size} px")
    if not 0 <= spec.difficulty <= 1:
        raise FaceauthError(f"difficulty must lie in [0, 1], got {spec.difficulty}")
    if not 0 <= spec.static <= 1:
        raise FaceauthError(f"static cue must lie in [0, 1], got {spec.static}")
    if spec.blink_rate < 0 or spec.shake < 0 or spec.light_drift < 0:
        raise FaceauthError("blink rate, shake and light drift must not be negative")


def cached_dataset(cache_dir: str | Path, spec: SyntheticSpec) -> Path:
    """The dataset for `spec` under `<cache_dir>/synthetic/`, generated once (into a temporary folder,
    renamed into place under a lock) and reused by every run with the same parameters."""
    target = Path(cache_dir).expanduser() / "synthetic" / spec.folder_name()
    if generated_once(target, lambda folder: write_dataset(folder, spec, quiet=True)):
        logger.warning(f"generated SYNTHETIC temporal data (drawn faces, not real videos) in {target}")
    return target


def write_from_options(out_dir: str | Path, options: dict) -> Path:
    """`faceauth datasets temporal`: a named regime's fields, overridden by every option given (not None)."""
    fields = dict(REGIMES[options["regime"]]) if options.get("regime") else {}
    given = {k: v for k, v in options.items() if v is not None and k not in ("regime", "per_class", "seed")}
    fields = {"frames": 32, "size": 64, "difficulty": 0.7, **fields, **given}
    return write_dataset(out_dir, SyntheticSpec(videos_per_class=options["per_class"], seed=options["seed"], **fields))
