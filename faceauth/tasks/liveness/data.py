"""Images for the liveness trainer: the folder layout, its checks, and each split as a uint8 array.

    data_root/
      train/live/...            bona fide images (JPEG or PNG; subfolders allowed) or video files
      train/spoof/...           attacks; either directly, or one subfolder per attack type:
      train/spoof/print/...     spoof/print/, spoof/replay/, spoof/mask/, ...
      val/  (the same)          the operating threshold is chosen here
      test/ (the same)          held out: only evaluation reads it

Every problem of the layout (a missing split or class, a class without images) is reported at once,
then every image that cannot be decoded, each with its path: one run finds them all. With
`skip_corrupt` unreadable images are skipped and listed instead.

A video file (.avi, .mov, .mp4, ...) gives `frames_per_video` samples, frames spread evenly over it,
read in place. Where the dataset ships a face box for an image or a frame (faceauth.tasks.face_boxes),
the face is cropped first. Images are decoded to RGB, resized (shorter side) and centre-cropped to
image_size, and kept in a memory-mapped cache (cache.py) so that a search decodes each image once per
node, not per trial.

A public dataset in its shipped layout (OULU-NPU, CASIA-FASD, Replay-Attack, CelebA-Spoof) reaches
this loader as a fold's data root of links in this layout (faceauth.tasks.protocols).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from faceauth.io.log import logger
from faceauth.io.errors import FaceauthError
from faceauth.io.imaging import open_rgb, resize_centre_crop
from faceauth.io.layout import CLASSES, SPLITS, UNTYPED_ATTACK, not_a_folder
from faceauth.tasks import face_boxes, pad
from faceauth.tasks.liveness import cache
from faceauth.tasks.video_files import FRAME_MARK, is_video_file, sampled_frames
from faceauth.tasks.liveness.synthetic import ATTACK_TYPES, SyntheticSpec, cached_dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = ("expected data_root/{train,val,test}/{live,spoof}/ with JPEG/PNG images or video files; spoof/ may hold "
          "one subfolder per attack type (print/, replay/, mask/, ...); or OULU-NPU, CASIA-FASD, Replay-Attack or "
          "CelebA-Spoof as it ships")


def decode_image(path: Path, size: int, face_scale: float = 1.0) -> np.ndarray:
    """RGB uint8 (size, size, 3): cropped to its shipped face box where there is one, the shorter side
    resized to `size` (bilinear, antialiased), then a centre crop. Without a box, JPEGs are decoded at
    the smallest power-of-two reduction still >= size (libjpeg's draft mode): several times cheaper
    for large frames, and nothing is lost at the target size."""
    if face_boxes.boxes_for(str(Path(path).resolve())) is None:
        return resize_centre_crop(open_rgb(path, size), size)
    return resize_centre_crop(face_boxes.face_crop(open_rgb(path), path, 0, face_scale), size)


class VideoFrames:
    """The sampled frames of a video, decoded once for all its rows: the rows of one video arrive
    together (in threads), and the first to ask decodes while the others wait for it. With a `store`
    folder each video's frames are also kept there, keyed by the real file (path, size, mtime, its
    face-box file) and the settings: the folds of a protocol link the same videos from different
    folders, and each video is then decoded once, not once per fold."""

    def __init__(self, frames: int, size: int, face_scale: float, store: Path | None = None):
        self.frames, self.size, self.face_scale, self.store = frames, size, face_scale, store
        self.lock, self.locks = threading.Lock(), {}
        self.decoded = functools.lru_cache(maxsize=8)(self._stored)

    def _decode(self, video: Path) -> np.ndarray:
        from PIL import Image

        return np.stack([resize_centre_crop(face_boxes.face_crop(Image.fromarray(frame), video, index, self.face_scale), self.size)
                         for index, frame in sampled_frames(video, self.frames)])

    def _key(self, video: Path) -> str:
        real = video.resolve()
        stamp = [str(real), *_stamp(real), cache.CACHE_VERSION, self.frames, self.size, self.face_scale]
        return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:24]

    def _stored(self, video: Path) -> np.ndarray:
        if self.store is None:
            return self._decode(video)
        path = self.store / f"{self._key(video)}.npy"
        try:
            return np.load(path)
        except (OSError, ValueError):  # not stored yet (or a damaged file): decoded again
            pass
        frames = self._decode(video)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:  # a handle: np.save would add ".npy" to the temporary name
                np.save(handle, frames, allow_pickle=False)
            os.replace(temporary, path)
        except OSError:  # a full or read-only disk: the split's own cache reports it, naming the folder
            temporary.unlink(missing_ok=True)
        return frames

    def row(self, path: Path) -> np.ndarray:
        video, _, number = str(path).rpartition(FRAME_MARK)
        with self.lock:
            lock = self.locks.setdefault(video, threading.Lock())
        with lock:
            return self.decoded(Path(video))[int(number)]


def decoder(config) -> Callable[[Path, int], np.ndarray]:
    """How a row of the cache is decoded: an image file, or one sampled frame of a video (`v.avi#3`)."""
    store = Path(config.cache_dir).expanduser() / "liveness" / "video-frames" if config.cache else None
    frames = VideoFrames(config.frames_per_video, config.image_size, config.face_box_scale, store)

    def decode(path: Path, size: int) -> np.ndarray:
        if FRAME_MARK in path.name:
            return frames.row(path)
        return decode_image(path, size, config.face_box_scale)

    return decode


def attack_type_of(relpath: str) -> str:
    """'' for bona fide; the spoof/ subfolder's name (as a metric-key-safe word) for an attack (a video's
    frame rows, `v.avi#3`, are labelled as their video)."""
    parts = relpath.split("/")
    if parts[0] != "spoof":
        return ""
    if len(parts) == 2:  # directly in spoof/
        return UNTYPED_ATTACK
    return re.sub(r"[^a-z0-9]+", "_", parts[1].lower()).strip("_") or UNTYPED_ATTACK


class DecodeOnAccess:
    """The images of a split decoded each time they are indexed: the `cache: false` path (and the
    benchmark's baseline). Indexes like an (N, S, S, 3) uint8 array with an index array or a slice."""

    def __init__(self, folder: Path, relpaths: Sequence[str], image_size: int, decode: Callable[[Path, int], np.ndarray]):
        self.folder, self.relpaths, self.image_size, self.decode = folder, list(relpaths), image_size, decode
        self.shape = (len(self.relpaths), image_size, image_size, 3)

    def __len__(self) -> int:
        return len(self.relpaths)

    def __getitem__(self, index) -> np.ndarray:
        rows = np.arange(len(self.relpaths))[index]
        return np.stack([self.decode(self.folder / self.relpaths[i], self.image_size) for i in np.atleast_1d(rows)])


@dataclass(frozen=True)
class ImageSplit(pad.AttackLabels):
    images: np.ndarray | DecodeOnAccess  # (N, S, S, 3) uint8 RGB
    is_attack: np.ndarray  # (N,) bool
    attack_types: np.ndarray  # (N,) str: '' for bona fide, else the attack type
    source: str
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why (skip_corrupt)
    cache_hit: bool = False
    relpaths: tuple[str, ...] = ()  # each image's path under the split folder

    def __len__(self) -> int:
        return len(self.is_attack)

    def summary(self) -> str:
        return self.class_counts() + (f", {len(self.skipped)} skipped" if self.skipped else "")


def scan_folder(folder: Path, frames_per_video: int = 1) -> tuple[list[cache.FileEntry], list[str]]:
    """The images (and video frames) under folder/live and folder/spoof (sorted, hidden files ignored),
    and what is wrong."""
    if not folder.is_dir():
        return [], [not_a_folder(folder)]
    entries, problems = [], []
    for name in CLASSES:
        class_dir = folder / name
        if not class_dir.is_dir():
            problems.append(not_a_folder(class_dir))
            continue
        found = _images_under(class_dir, folder, frames_per_video)
        if not found:
            problems.append(f"{class_dir} holds no JPEG/PNG images ({', '.join(IMAGE_SUFFIXES)}) or video files")
        entries += found
    return entries, problems


def _images_under(class_dir: Path, folder: Path, frames_per_video: int = 1) -> list[cache.FileEntry]:
    """Every image below class_dir (and `frames_per_video` rows per video file), links to folders
    followed, each real folder read once: a link that leads back to a folder already read (a loop, or a
    second way in) is an error naming it, as it would count the same images again."""
    entries = []
    seen = {}
    for directory, subdirs, names in os.walk(class_dir, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            raise FaceauthError(f"{directory} leads to {real}, which is already read as {seen[real]}: a symlink loop or a "
                                "second link to the same folder would count its images again; remove the link")
        seen[real] = directory
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(directory) / name
            video = is_video_file(path)
            if name.startswith(".") or not (video or name.lower().endswith(IMAGE_SUFFIXES)):
                continue  # e.g. macOS "._x.jpg" resource forks are not images
            size, mtime_ns = _stamp(path)
            relpath = path.relative_to(folder).as_posix()
            rows = [f"{relpath}{FRAME_MARK}{k}" for k in range(frames_per_video)] if video else [relpath]
            entries += [cache.FileEntry(row, size, mtime_ns) for row in rows]
    return entries


def _stamp(path: Path) -> tuple[int, int]:
    """(size, mtime) of a media file, the mtime the later of its own and its face-box file's: a changed
    box makes a new cache entry too."""
    try:
        stat = path.stat()
    except OSError:  # e.g. a broken link: listed as unreadable when it fails to decode
        return -1, 0
    side = face_boxes.side_file(path.resolve())
    return stat.st_size, max(stat.st_mtime_ns, side.stat().st_mtime_ns if side is not None else 0)


def _decode_threads() -> int:
    """Ray sets OMP_NUM_THREADS (and so torch's thread count) to a trial's CPUs: decode with as many."""
    return torch.get_num_threads()


def _decode(folder: Path, files: list[cache.FileEntry],
            config) -> tuple[np.ndarray | DecodeOnAccess, list[str], dict[str, str], bool]:
    """(images, kept relpaths, failed relpath -> why, cache hit)."""
    decode = decoder(config)
    if config.cache:
        variant = f"face_box_scale={config.face_box_scale:g}"
        decoded = cache.load_or_build(folder, files, config.image_size, config.cache_dir, decode, _decode_threads(), variant)
        return decoded.images, decoded.kept, decoded.failed, decoded.cache_hit
    # No cache: one pass to find unreadable images before training, then decoded again on every access.
    results = {f.relpath: cache.try_decode(decode, folder / f.relpath, config.image_size) for f in files}
    failed = {relpath: r for relpath, r in results.items() if isinstance(r, str)}
    kept = [relpath for relpath in results if relpath not in failed]
    return DecodeOnAccess(folder, kept, config.image_size, decode), kept, failed, False


def load_folders(folders: dict[str, Path], config) -> dict[str, ImageSplit]:
    """Check, decode (through the cache) and label each folder (a split with live/ and spoof/)."""
    scans = {name: scan_folder(folder, config.frames_per_video) for name, folder in folders.items()}
    problems = [p for _, folder_problems in scans.values() for p in folder_problems]
    if problems:
        raise FaceauthError("liveness data layout:\n  " + "\n  ".join(problems) + f"\n{LAYOUT}")
    splits = {}
    for name, folder in folders.items():
        images, kept, failed, hit = _decode(folder, scans[name][0], config)
        attack_types = np.array([attack_type_of(p) for p in kept], dtype=str)
        splits[name] = ImageSplit(images, attack_types != "", attack_types, str(folder),
                                  {_shown(folder, p): why for p, why in failed.items()}, hit, tuple(kept))
    failed = {path: why for split in splits.values() for path, why in split.skipped.items()}
    if failed and not config.skip_corrupt:
        listing = "\n  ".join(f"{path}: {why}" for path, why in failed.items())
        raise FaceauthError(f"{len(failed)} image(s) could not be read:\n  {listing}\n"
                            "fix or remove them, or pass --skip-corrupt to train without them")
    if failed:
        listing = "\n  ".join(failed)
        logger.warning(f"skipped {len(failed)} unreadable image(s) (--skip-corrupt):\n  {listing}")
    emptied = [f"{folders[name] / c}" for name, split in splits.items()
               for c, attack in (("live", False), ("spoof", True)) if not (split.is_attack == attack).any()]
    if emptied:
        raise FaceauthError(f"liveness data: no readable images left in {', '.join(emptied)} after skipping unreadable ones")
    return splits


def _shown(folder: Path, relpath: str) -> str:
    """A failed row as a user finds it: the video, not its frame row; the file a fold's link points to."""
    return os.path.realpath(folder / relpath.split(FRAME_MARK)[0])


def data_root(config) -> Path:
    """The configured data_root, or the synthetic dataset (drawn once into the cache folder)."""
    return pad.data_root(config, "liveness", "images", LAYOUT, lambda: cached_dataset(config.cache_dir, SyntheticSpec(
        config.synthetic_difficulty, config.synthetic_per_class, config.synthetic_image_size, config.data_seed,
        config.synthetic_attack_types or len(ATTACK_TYPES), config.synthetic_domains)))


def load_splits(config, splits: Sequence[str] = SPLITS) -> dict[str, ImageSplit]:
    root = data_root(config)
    return load_folders({name: root / name for name in splits}, config)


def resolve_test_folder(path: str | Path) -> Path:
    """A test split given on the command line: a folder with live/ and spoof/, or a data_root (its test/)."""
    path = Path(path).expanduser()
    if all((path / c).is_dir() for c in CLASSES) or not (path / "test").is_dir():
        return path
    return path / "test"
