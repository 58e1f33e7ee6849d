"""Each split as per-video frame-feature arrays, and the LSTM's windows over them.

Loading checks every video before training: an unreadable one, one whose frames differ in size, or
one with fewer frames than a window spans is a problem; all of them are reported in one error
(or, with `skip_invalid`, skipped and listed). Features come from the on-disk cache (features.py),
so a search extracts each video once per node, not once per trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from faceauth.io.log import logger
from faceauth.io.errors import FaceauthError
from faceauth.tasks import pad
from faceauth.tasks.temporal.features import FeatureCache, FrameExtractor, make_extractor, video_features
from faceauth.tasks.temporal.synthetic import ATTACK_TYPES, SyntheticSpec, cached_dataset, regime_spec
from faceauth.tasks.temporal.videos import LAYOUT, SPLITS, Video, VideoProblem, check_layout, problem_report


@dataclass(frozen=True)
class VideoSet(pad.AttackLabels):
    features: list[np.ndarray]  # one (frames, D) float32 array per video
    is_attack: np.ndarray  # (N,) bool
    attack_types: np.ndarray  # (N,) str: '' for bona fide
    paths: list[str]
    source: str
    extractor: str  # the feature extractor's identity
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why (skip_invalid)
    cache_hits: int = 0

    def __len__(self) -> int:
        return len(self.features)

    @property
    def frames(self) -> int:
        return int(sum(len(f) for f in self.features))

    def summary(self) -> str:
        return (self.class_counts(" videos") + f", {self.frames} frames"
                + (f", {len(self.skipped)} skipped" if self.skipped else ""))


def data_root(config) -> Path:
    """The configured data_root, or the synthetic dataset (generated once into the cache folder)."""
    def synthetic() -> Path:
        if config.synthetic_regime is not None:
            spec = regime_spec(config.synthetic_regime, config.synthetic_per_class, config.data_seed)
        else:
            spec = SyntheticSpec(config.synthetic_per_class, config.synthetic_frames, config.synthetic_size,
                                 config.synthetic_difficulty, config.data_seed)
        spec = replace(spec, attack_types=config.synthetic_attack_types or len(ATTACK_TYPES), domains=config.synthetic_domains)
        return cached_dataset(config.cache_dir, spec)

    return pad.data_root(config, "temporal", "videos", LAYOUT, synthetic)


def _extract(videos: list[Video], extractor: FrameExtractor, cache: FeatureCache, needed: int):
    """Features of every usable video, and why each other one is not."""
    kept, problems, hits = [], {}, 0
    for video in videos:
        try:
            features, hit = video_features(video, extractor, cache, needed)
        except VideoProblem as problem:
            problems[str(video.path)] = str(problem)
            continue
        except OSError as err:  # a file vanished or is not readable between the scan and now
            problems[str(video.path)] = f"unreadable ({err})"
            continue
        kept.append((video, features))
        hits += hit
    return kept, problems, hits


def load_videos(root: Path, folders: dict[str, list[Video]], config,
                extractor: FrameExtractor | None = None) -> dict[str, VideoSet]:
    """Check and featurise the videos of every split (root/<split>); all problems are reported together."""
    extractor = extractor or make_extractor(config.frame_extractor, config.feature_kind)
    cache = FeatureCache(config.cache_dir, extractor.identity)
    results = {name: _extract(videos, extractor, cache, config.window_span) for name, videos in folders.items()}
    problems = {path: why for _, split_problems, _ in results.values() for path, why in split_problems.items()}
    if problems and not config.skip_invalid:
        raise FaceauthError(f"{len(problems)} video(s) cannot be used:\n{problem_report(problems)}\n"
                            "fix or remove them, or pass --skip-invalid to train without them")
    if problems:
        logger.warning(f"skipped {len(problems)} invalid video(s) (--skip-invalid):\n{problem_report(problems)}")
    sets = {}
    for name, (kept, split_problems, hits) in results.items():
        sets[name] = VideoSet(
            features=[f for _, f in kept], is_attack=np.array([v.is_attack for v, _ in kept], dtype=bool),
            attack_types=np.array([v.attack_type for v, _ in kept], dtype=str), paths=[str(v.path) for v, _ in kept],
            source=str(root / name), extractor=extractor.identity,
            skipped=split_problems, cache_hits=hits)
    emptied = [f"{sets[name].source}/{c}" for name in sets for c, attack in (("live", False), ("spoof", True))
               if not (sets[name].is_attack == attack).any()]
    if emptied:
        raise FaceauthError(f"temporal data: no usable videos left in {', '.join(emptied)} after skipping invalid ones")
    return sets


def load_splits(config, splits: tuple[str, ...] = SPLITS) -> dict[str, VideoSet]:
    """The named splits of the data root; with `test_data` set, "test" is read from there instead."""
    extractor = make_extractor(config.frame_extractor, config.feature_kind)  # first: a bad path fails before any data work
    root = data_root(config)
    own = tuple(s for s in splits if not (s == "test" and config.test_data is not None))
    sets = load_videos(root, check_layout(root, own), config, extractor) if own else {}
    if len(own) < len(splits):
        sets["test"] = load_folder(config.test_data, config, extractor)
    return {name: sets[name] for name in splits}


def load_folder(folder: str | Path, config, extractor: FrameExtractor | None = None) -> VideoSet:
    """A test folder given on its own: a split (live/, spoof/), a data root holding test/, or a public
    dataset as it ships (its test side)."""
    shipped = pad.shipped_test_side(folder, config.cache_dir)
    if shipped is not None:
        videos = load_videos(shipped.parent, check_layout(shipped.parent, ("test",)), config, extractor)["test"]
        return replace(videos, source=f"{folder} (its test side)")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FaceauthError(f"temporal test data {folder} does not exist or is not a folder; pass a folder with "
                            "live/ and spoof/ (a test split) or a data root holding test/")
    if (folder / "test").is_dir() and not (folder / "live").is_dir():
        folder = folder / "test"
    return load_videos(folder.parent, check_layout(folder.parent, (folder.name,)), config, extractor)[folder.name]


# ---------------------------------------------------------------------------------------------- windows

def window_starts(frames: int, span: int) -> np.ndarray:
    """Window starts that cover the video with half-overlapping windows, the last ending at its end."""
    last = frames - span
    starts = np.arange(0, last + 1, max(1, span // 2))
    return starts if starts[-1] == last else np.append(starts, last)


def eval_windows(videos: VideoSet, seq_len: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows (W, seq_len, D) float32, the video index of each window)."""
    span = (seq_len - 1) * stride + 1
    windows, owners = [], []
    for index, features in enumerate(videos.features):
        for start in window_starts(len(features), span):
            windows.append(features[start:start + span:stride])
            owners.append(index)
    return np.stack(windows), np.array(owners)


def train_windows(videos: VideoSet, seq_len: int, stride: int, strength: float, feature_std: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's training windows (W, seq_len, D) and their labels (1 = attack).

    The windows of `eval_windows`, augmented by `strength` in [0, 1] (0: none): temporal jitter (the
    start moved by up to a half window, the stride changed by one with probability 0.5 * strength),
    dropped frames (a frame repeats its predecessor with probability 0.15 * strength, as when a
    camera drops one) and feature noise (std 0.1 * strength of each feature's spread)."""
    windows, labels = [], []
    for features, attack in zip(videos.features, videos.is_attack):
        frames = len(features)
        for start in window_starts(frames, (seq_len - 1) * stride + 1):
            step = stride
            if strength > 0 and rng.random() < 0.5 * strength:
                step = max(1, stride + int(rng.choice((-1, 1))))
                if (seq_len - 1) * step + 1 > frames:
                    step = stride
            span = (seq_len - 1) * step + 1
            if strength > 0:
                jitter = int(round(rng.uniform(-0.5, 0.5) * strength * span))
                start = int(np.clip(start + jitter, 0, frames - span))
            index = start + step * np.arange(seq_len)
            if strength > 0:
                dropped = np.flatnonzero(rng.random(seq_len - 1) < 0.15 * strength) + 1
                for i in dropped:  # in order, so a run of drops repeats one frame
                    index[i] = index[i - 1]
            windows.append(features[index])
            labels.append(float(attack))
    x = np.stack(windows)
    if strength > 0:
        x = x + (rng.standard_normal(x.shape) * (0.1 * strength) * feature_std).astype(np.float32)
    return x.astype(np.float32), np.array(labels, dtype=np.float32)


def feature_statistics(videos: VideoSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over every training frame (float64 sums): the model's input scaling."""
    frames = np.concatenate(videos.features).astype(np.float64)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)
