"""Per-frame feature vectors, computed once per video and cached on disk.

A video becomes a (frames, D) float32 array. Two extractors:

- `HandcraftedExtractor` (default, no weights): numpy only, float64 throughout, float32 at the end;
  colour statistics, gradient/texture energy, the spectrum's high-frequency share and peakiness (the
  moire of a screen, the halftone of a print), the glare share, and frame-difference motion in the
  face region against the border (a live face moves against a still background; a held photo or
  screen moves all of it rigidly) and the global brightness change (screen flicker).
- `CheckpointExtractor`: the penultimate features of a trained image model (e.g. a liveness
  checkpoint), run on one CPU thread so that the bits do not depend on the process's thread count.

The cache (`FeatureCache`) keys each video by its path, its files' names, sizes and mtimes, and the
extractor's identity (name + version, or the checkpoint file's SHA-256): the same inputs give the
same bits, and a changed frame or extractor misses the cache instead of reading stale features.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.io.files import file_sha256
from faceauth.io.imaging import resize_centre_crop
from faceauth.tasks.temporal.videos import Video, check_frames, check_length, read_frames


class FrameExtractor(Protocol):
    identity: str  # changes whenever the features would: part of every cache key
    dim: int

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        """All frames of one video, in order -> (frames, dim) float32."""


# ---------------------------------------------------------------------------------------------- handcrafted

WORK_SIZE = 64  # frames are cropped to a centred square and area-resized to this side
HANDCRAFTED_FEATURES = (
    "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b",
    "mean_cb", "mean_cr", "std_cb", "std_cr", "mean_saturation", "mean_luma", "std_luma",
    "grad_x", "grad_y", "log_laplacian_energy", "glare_share",
    "spectrum_low", "spectrum_mid", "spectrum_high", "log_spectrum_peakiness",
    "motion", "motion_centre", "motion_border", "motion_contrast", "brightness_change",
)


def centre_square(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top:top + side, left:left + side]


def area_resize(square: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, n, 3) -> float64 (size, size, 3) in [0, 1]. Pixel sums are taken in int64 (exact),
    so the result never depends on summation order; smaller frames are upsampled (nearest)."""
    n = square.shape[0]
    if n == size:
        return square / 255.0
    if n < size:
        index = ((np.arange(size) + 0.5) * n / size).astype(np.int64)
        return square[index][:, index].astype(np.float64) / 255.0
    starts = np.arange(size) * n // size
    counts = np.diff(np.append(starts, n))
    sums = np.add.reduceat(np.add.reduceat(square.astype(np.int64), starts, axis=0), starts, axis=1)
    return sums / (counts[:, None, None] * counts[None, :, None] * 255.0)


def _radial_frequency(size: int) -> np.ndarray:
    f = np.fft.fftfreq(size)
    return np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def spectrum_features(luma_patch: np.ndarray) -> list[float]:
    """Shares of the (Hann-windowed, DC-free) power below 1/8, 1/8-1/4 and above 1/4 cycles/pixel,
    and how peaked the high band is: a screen's moire or a print's halftone is a few sharp peaks
    there, camera noise is flat."""
    size = luma_patch.shape[0]
    window = np.outer(np.hanning(size), np.hanning(size))
    power = np.abs(np.fft.fft2((luma_patch - luma_patch.mean()) * window)) ** 2
    r = _radial_frequency(size)
    power[0, 0] = 0.0
    total = power.sum() + 1e-12
    low, mid, high = (r > 0) & (r < 0.125), (r >= 0.125) & (r < 0.25), r >= 0.25
    high_power = power[high]
    return [power[low].sum() / total, power[mid].sum() / total, high_power.sum() / total,
            float(np.log((high_power.max() + 1e-12) / (high_power.mean() + 1e-12)))]


def luma_of(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def appearance_features(rgb: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Colour, texture and glare (bright, colourless pixels) of one frame (float64 RGB in [0, 1]);
    also returns its luma."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = luma_of(rgb)
    cb, cr = 0.5 + (b - luma) * 0.564, 0.5 + (r - luma) * 0.713
    top, bottom = rgb.max(axis=2), rgb.min(axis=2)
    saturation = (top - bottom) / (top + 1e-6)
    laplacian = 4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    glare = float(((luma > 0.92) & (saturation < 0.2)).mean())
    values = [r.mean(), g.mean(), b.mean(), r.std(), g.std(), b.std(), cb.mean(), cr.mean(), cb.std(), cr.std(),
              saturation.mean(), luma.mean(), luma.std(),
              np.abs(np.diff(luma, axis=1)).mean(), np.abs(np.diff(luma, axis=0)).mean(),
              float(np.log((laplacian ** 2).mean() + 1e-8)), glare]
    return values, luma


def motion_features(luma: np.ndarray, previous: np.ndarray) -> list[float]:
    """Frame-difference statistics: overall, in the central half (the face) and in the outer ring
    (the background), their contrast in [-1, 1], and the change of mean brightness (flicker)."""
    size = luma.shape[0]
    diff = np.abs(luma - previous)
    inner = np.zeros((size, size), dtype=bool)
    inner[size // 4: size - size // 4, size // 4: size - size // 4] = True
    ring = np.ones((size, size), dtype=bool)
    ring[size // 8: size - size // 8, size // 8: size - size // 8] = False
    centre, border = diff[inner].mean(), diff[ring].mean()
    return [diff.mean(), centre, border, (centre - border) / (centre + border + 1e-6), luma.mean() - previous.mean()]


def native_patch(square: np.ndarray) -> np.ndarray:
    """The centred WORK_SIZE x WORK_SIZE patch at the camera's own resolution: the spectrum is read
    here (not on the resized frame) because resampling would blur away the fine periodic patterns
    it is there to find."""
    start = (square.shape[0] - WORK_SIZE) // 2
    return square[start:start + WORK_SIZE, start:start + WORK_SIZE]


class HandcraftedExtractor:
    """Deterministic features that need no weights (see the module docstring); `dim` = 26."""

    version = 1
    identity = f"handcrafted-v{version}-{WORK_SIZE}px"
    dim = len(HANDCRAFTED_FEATURES)

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        rows, previous = [], None
        for frame in frames:
            square = centre_square(frame)
            rgb = area_resize(square, WORK_SIZE)
            appearance, luma = appearance_features(rgb)
            patch_luma = luma if len(square) <= WORK_SIZE else luma_of(native_patch(square) / 255.0)
            spectrum = spectrum_features(patch_luma)
            motion = motion_features(luma, luma if previous is None else previous)  # the first frame: no motion
            rows.append(appearance + spectrum + motion)
            previous = luma
        return np.asarray(rows, dtype=np.float64).astype(np.float32)


# ---------------------------------------------------------------------------------------------- texture

LBP_BINS = 10  # rotation-invariant uniform LBP(8, 1): 9 uniform patterns (by their count of ones) + the rest
EYE_BAND = (0.26, 0.46, 0.22, 0.78)  # top, bottom, left, right as shares of the centred square
MOUTH_BAND = (0.58, 0.80, 0.28, 0.72)
FLICKER_FRAMES = 8  # the trailing window whose brightness spectrum is read at each frame
TEXTURE_FEATURES = HANDCRAFTED_FEATURES + tuple(
    f"lbp_{channel}_{b}" for channel in ("y", "cb", "cr") for b in range(LBP_BINS)
) + (
    "shift_y", "shift_x", "zoom", "gain", "residual", "residual_eyes", "residual_mouth", "residual_border",
    "residual_face", "eyes_over_face", "mouth_over_face",
    "eyes_luma", "eyes_contrast", "mouth_luma", "mouth_contrast",
) + tuple(f"flicker_{k}" for k in range(1, FLICKER_FRAMES // 2 + 1)) + ("log_flicker_power",)


def lbp_histogram(channel: np.ndarray) -> np.ndarray:
    """Rotation-invariant uniform LBP(8, 1) histogram of one channel (float64 2-D): the colour-texture
    descriptor of face anti-spoofing (Boulkenafet et al., 2015), here on luma, Cb and Cr."""
    centre = channel[1:-1, 1:-1]
    h, w = channel.shape
    offsets = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))  # clockwise from the top left
    bits = np.stack([channel[dy:dy + h - 2, dx:dx + w - 2] >= centre for dy, dx in offsets]).astype(np.int64)
    transitions = np.abs(bits - np.roll(bits, 1, axis=0)).sum(axis=0)
    codes = np.where(transitions <= 2, bits.sum(axis=0), LBP_BINS - 1)
    return np.bincount(codes.ravel(), minlength=LBP_BINS) / codes.size


def band(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    n = image.shape[0]
    top, bottom, left, right = (int(round(v * n)) for v in box)
    return image[top:bottom, left:right]


def rigid_residual(luma: np.ndarray, previous: np.ndarray) -> tuple[list[float], np.ndarray]:
    """The frame difference explained by one rigid motion of the whole picture (shift, zoom) and one
    brightness gain, fitted by least squares (a global Lucas-Kanade step), and what is left. A photo
    or screen moved by a hand is explained almost entirely; a blink or a moving mouth is not, and it
    is left in the eye and mouth bands."""
    n = luma.shape[0]
    mean = (luma + previous) / 2
    gy, gx = np.gradient(mean)
    c = (n - 1) / 2
    yy, xx = np.meshgrid(np.arange(n) - c, np.arange(n) - c, indexing="ij")
    basis = np.stack([-gy, -gx, -(yy * gy + xx * gx), mean, np.ones_like(mean)], axis=-1).reshape(-1, 5)
    diff = (luma - previous).ravel()
    gram = basis.T @ basis + 1e-6 * np.eye(5)
    params = np.linalg.solve(gram, basis.T @ diff)
    residual = np.abs(diff - basis @ params).reshape(n, n)
    return [float(params[0]), float(params[1]), float(params[2] / c), float(params[3])], residual


def flicker_spectrum(brightness: list[float]) -> list[float]:
    """Shares of the power of the last FLICKER_FRAMES frames' mean brightness (linear trend removed)
    at each temporal frequency, and its log total: screen refresh or lamp flicker is a peak there."""
    series = np.asarray(brightness[-FLICKER_FRAMES:], dtype=np.float64)
    series = np.concatenate([np.full(FLICKER_FRAMES - len(series), series[0]), series])
    t = np.arange(FLICKER_FRAMES, dtype=np.float64)
    series = series - np.polyval(np.polyfit(t, series, 1), t)
    power = np.abs(np.fft.rfft(series)[1:]) ** 2
    total = power.sum()
    return list(power / (total + 1e-12)) + [float(np.log(total + 1e-10))]


class TextureExtractor:
    """The built-in features plus colour-texture LBP histograms (luma, Cb, Cr of the native-resolution
    centre patch), rigid-motion residuals in the eye and mouth bands against the border, the eye and
    mouth bands' brightness and contrast, and the brightness spectrum of the last frames (flicker).
    Deterministic (numpy, float64); `dim` = 76. The face is assumed roughly centred, as in cropped
    face-PAD clips."""

    version = 1
    identity = f"texture-v{version}-{WORK_SIZE}px"
    dim = len(TEXTURE_FEATURES)

    def __init__(self) -> None:
        self.base = HandcraftedExtractor()

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        base = self.base(frames).astype(np.float64)
        rows, previous, brightness = [], None, []
        for frame in frames:
            square = centre_square(frame)
            rgb = area_resize(square, WORK_SIZE)
            luma = luma_of(rgb)
            patch = native_patch(square) / 255.0 if len(square) > WORK_SIZE else square / 255.0
            patch_luma = luma_of(patch)
            cb = (patch[..., 2] - patch_luma) * 0.564
            cr = (patch[..., 0] - patch_luma) * 0.713
            lbp = np.concatenate([lbp_histogram(patch_luma), lbp_histogram(cb), lbp_histogram(cr)])
            motion, residual = rigid_residual(luma, luma if previous is None else previous)
            ring = np.ones_like(residual, dtype=bool)
            ring[WORK_SIZE // 8: -(WORK_SIZE // 8), WORK_SIZE // 8: -(WORK_SIZE // 8)] = False
            face = band(residual, (0.2, 0.8, 0.25, 0.75)).mean()
            eyes, mouth = band(residual, EYE_BAND).mean(), band(residual, MOUTH_BAND).mean()
            residuals = [residual.mean(), eyes, mouth, residual[ring].mean(), face,
                         eyes / (face + 1e-4), mouth / (face + 1e-4)]
            eye_band, mouth_band = band(luma, EYE_BAND), band(luma, MOUTH_BAND)
            regions = [eye_band.mean(), eye_band.std(), mouth_band.mean(), mouth_band.std()]
            brightness.append(float(band(luma, (0.2, 0.8, 0.25, 0.75)).mean()))
            rows.append(list(lbp) + motion + residuals + regions + flicker_spectrum(brightness))
            previous = luma
        return np.concatenate([base, np.asarray(rows, dtype=np.float64)], axis=1).astype(np.float32)


# ---------------------------------------------------------------------------------------------- checkpoint

@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """CPU kernels may split reductions differently with another thread count: extract on one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class CheckpointExtractor:
    """The penultimate features of a faceauth checkpoint's image model: its `features(images)` if it
    has one, else the input of its last nn.Linear (the pooled vector a classifier head reads).

    Frames are preprocessed as the liveness trainer does: the shorter side resized to the model's
    `image_size` (bilinear, antialiased), a centre crop, RGB scaled to [0, 1], NCHW float32."""

    def __init__(self, path: str | Path):
        from faceauth.tasks import get_task, load_task_checkpoint

        self.path = Path(path).expanduser()
        checkpoint = load_task_checkpoint(self.path)
        args = checkpoint["model_args"]
        self.image_size = args.get("image_size") or checkpoint.get("config", {}).get("image_size")
        if not self.image_size:
            raise FaceauthError(f"frame extractor {self.path}: the checkpoint names no image_size in its model_args or "
                                "config; a frame extractor must be an image model (e.g. a liveness checkpoint)")
        self.model = get_task(checkpoint["task"]).load_model(checkpoint)
        self.identity = f"checkpoint-{checkpoint['task']}-{file_sha256(self.path, 'frame extractor')[:20]}"
        self.dim = int(self._embed([np.zeros((self.image_size, self.image_size, 3), np.uint8)]).shape[1])

    def _penultimate(self, images):
        import torch

        if hasattr(self.model, "features"):
            return self.model.features(images)
        linears = [m for m in self.model.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise FaceauthError(f"frame extractor {self.path}: the model has neither a features() method nor a "
                                "final nn.Linear whose input could serve as features")
        captured = []
        handle = linears[-1].register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0]))
        try:
            self.model(images)
        finally:
            handle.remove()
        return captured[-1].flatten(1)

    def _preprocess(self, frame: np.ndarray) -> np.ndarray:
        from PIL import Image

        return resize_centre_crop(Image.fromarray(frame), self.image_size)

    def _embed(self, frames: list[np.ndarray], batch: int = 64) -> np.ndarray:
        import torch

        images = np.stack([self._preprocess(f) for f in frames])
        out = []
        with torch.no_grad(), _one_thread():
            for i in range(0, len(images), batch):
                x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float() / 255.0
                out.append(self._penultimate(x).float().numpy())
        return np.concatenate(out)

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        return self._embed(frames).astype(np.float32)


FIXED_EXTRACTORS = {"texture": TextureExtractor, "handcrafted": HandcraftedExtractor}


def make_extractor(frame_extractor: str | None, kind: str | None = None) -> FrameExtractor:
    """`kind`: a FIXED_EXTRACTORS name or "checkpoint" (then `frame_extractor` is the checkpoint's
    path); None: "checkpoint" when a path is given, else "texture"."""
    kind = kind or ("checkpoint" if frame_extractor is not None else "texture")
    if kind in FIXED_EXTRACTORS:
        return FIXED_EXTRACTORS[kind]()
    if kind != "checkpoint" or frame_extractor is None:
        raise FaceauthError(f"frame_features '{kind}': choose one of {', '.join(FIXED_EXTRACTORS)} or checkpoint "
                            "(with --frame-extractor CHECKPOINT)")
    return _checkpoint_extractor(str(Path(frame_extractor).expanduser().resolve()), _mtime(frame_extractor))


def _mtime(path: str) -> int:
    try:
        return os.stat(Path(path).expanduser()).st_mtime_ns
    except OSError:
        raise FaceauthError(f"frame extractor {path} does not exist; pass a faceauth checkpoint (e.g. a liveness "
                            "model.pt) to --frame-extractor, or leave it out for the built-in features") from None


_opened: dict[tuple[str, int], CheckpointExtractor] = {}


def _checkpoint_extractor(path: str, mtime: int) -> CheckpointExtractor:
    """Opened once per process and file version (trials reusing an actor skip the reload)."""
    if (path, mtime) not in _opened:
        _opened[(path, mtime)] = CheckpointExtractor(path)
    return _opened[(path, mtime)]


# ---------------------------------------------------------------------------------------------- cache

class FeatureCache:
    """One .npy per (video, extractor) under <cache_dir>/temporal-features/<extractor identity>/."""

    def __init__(self, cache_dir: str | Path, extractor_identity: str):
        self.identity = extractor_identity
        self.folder = Path(cache_dir).expanduser() / "temporal-features" / extractor_identity

    def key(self, video: Video) -> str:
        record = {"video": str(video.path.resolve()), "files": video.fingerprint(), "extractor": self.identity}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def load(self, key: str) -> np.ndarray | None:
        path = self.folder / f"{key}.npy"
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # missing, or half-written by a process that died
            return None

    def save(self, key: str, features: np.ndarray) -> None:
        """Atomic: concurrent trials never read half a file. A cache that cannot be written (a full disk, a
        read-only folder) is the cache's problem, not the video's: an error naming the folder."""
        tmp = self.folder / f".{key}.{os.getpid()}.tmp.npy"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            np.save(tmp, features, allow_pickle=False)
            os.replace(tmp, self.folder / f"{key}.npy")
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise FaceauthError(f"cannot write the feature cache in {self.folder} ({err.strerror or err}): free space there, "
                                "or pass --cache-dir DIR on another disk") from None


def video_features(video: Video, extractor: FrameExtractor, cache: FeatureCache, needed: int) -> tuple[np.ndarray, bool]:
    """(features (frames, D) float32, cache hit). Raises VideoProblem for an unreadable video, frames
    of mixed sizes, or fewer than `needed` frames. A readable video is cached even when it is too
    short for this run's sequences: another run's may be shorter."""
    key = cache.key(video)
    features = cache.load(key)
    hit = features is not None
    if features is None:
        frames = read_frames(video)
        check_frames(frames, needed=1)
        features = extractor(frames)
        cache.save(key, features)
    check_length(len(features), needed)
    return features, hit
