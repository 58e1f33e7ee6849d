"""Decoded images cached on disk as memory-mapped uint8 arrays, shared by every run on a node.

Decoding and resizing JPEGs costs more than a training step of a small CNN on them
(benchmarks/liveness_train.py), and a search runs many trials over the same files. So the first run
decodes each image once into `<cache_dir>/liveness/<name>.npy`, (N, S, S, 3) uint8, and every later
run maps that file (np.load(mmap_mode="r")): trials on one node share one copy in the page cache.

The name holds a hash of the file list with each file's size and mtime, the image size and the
decoder's version: a changed, added or removed image gives a new name, never a stale hit. Older
arrays of the same folder and size are deleted when a new one is written.

Written atomically with plain writes (no memory map: a full disk is an error, not a SIGBUS), the
space claimed up front: the array, then its index (`<name>.json`, the commit marker) are written under
temporary names and renamed into place, so a reader never sees half a cache. A lock file makes
concurrent trials wait for one decoder instead of all decoding the same images.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.io.files import locked

# Bumped whenever decoding or resizing changes, so old arrays are not mistaken for new ones.
CACHE_VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    relpath: str  # relative to the folder, with "/" separators
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Decoded:
    images: np.ndarray  # (len(kept), S, S, 3) uint8, memory-mapped when it came from the cache
    kept: list[str]  # relpaths of the rows, in order
    failed: dict[str, str]  # relpath -> why it could not be decoded
    cache_hit: bool


def cache_key(files: Sequence[FileEntry], image_size: int, variant: str = "") -> str:
    """`variant`: how the files become images beyond their size (e.g. the face crop's scale)."""
    listing = [CACHE_VERSION, image_size, variant, [(f.relpath, f.size, f.mtime_ns) for f in files]]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:20]


def _prefix(folder: Path, image_size: int) -> str:
    """Readable and unique per folder: its last two names, a hash of its absolute path, the size."""
    absolute = str(folder.expanduser().resolve())
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{folder.parent.name}-{folder.name}")
    return f"{readable}-{hashlib.sha256(absolute.encode()).hexdigest()[:8]}-{image_size}px"


def try_decode(decode: Callable[[Path, int], np.ndarray], path: Path, image_size: int) -> np.ndarray | str:
    """The decoded image, or why it could not be decoded."""
    try:
        return decode(path, image_size)
    except Exception as err:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        return f"{type(err).__name__}: {err}"


def decode_all(folder: Path, relpaths: Sequence[str], image_size: int, decode: Callable[[Path, int], np.ndarray],
               out: np.ndarray, threads: int) -> tuple[list[str], dict[str, str]]:
    """Decode into the rows of `out` in order, skipping failures; returns (kept, failed).
    Threads help: PIL releases the GIL while it decodes and resizes."""

    def attempt(relpath: str) -> np.ndarray | str:
        return try_decode(decode, folder / relpath, image_size)

    kept, failed = [], {}
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for relpath, result in zip(relpaths, pool.map(attempt, relpaths)):
            if isinstance(result, str):
                failed[relpath] = result
            else:
                out[len(kept)] = result
                kept.append(relpath)
    return kept, failed


def load_or_build(folder: Path, files: Sequence[FileEntry], image_size: int, cache_dir: str | Path,
                  decode: Callable[[Path, int], np.ndarray], threads: int, variant: str = "") -> Decoded:
    """The decoded images of `files` under `folder`: from the cache, or decoded once and cached."""
    directory = Path(cache_dir).expanduser() / "liveness"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FaceauthError(f"cannot create the image cache {directory} ({err}); pass --cache-dir DIR, or --no-cache") from None
    prefix = _prefix(folder, image_size)
    name = f"{prefix}-{cache_key(files, image_size, variant)}"
    hit = _read(directory, name)
    if hit is not None:
        return hit
    try:
        with locked(directory / f"{prefix}.lock"):
            hit = _read(directory, name)  # another process may have built it while this one waited
            if hit is not None:
                return hit
            built = _build(directory, name, folder, files, image_size, decode, threads)
            _remove_stale(directory, prefix, keep=name)
    except OSError as err:  # a full disk, a read-only or foreign folder; the images themselves are fine
        raise FaceauthError(f"cannot write the image cache in {directory} ({err.strerror or err}): free space there, "
                            "or pass --cache-dir DIR on another disk, or --no-cache") from None
    return built


def _read(directory: Path, name: str) -> Decoded | None:
    try:
        index = json.loads((directory / f"{name}.json").read_text())
        images = np.load(directory / f"{name}.npy", mmap_mode="r")
    except (FileNotFoundError, ValueError):  # not built yet, or removed between the two reads
        return None
    if images.shape[0] != len(index["kept"]):
        return None
    return Decoded(images, index["kept"], index["failed"], cache_hit=True)


class _RowWriter:
    """Rows appended to an open .npy file in order: plain writes, no memory map, so a full disk is an
    OSError to report, not a SIGBUS that kills the process."""

    def __init__(self, handle):
        self.handle, self.rows = handle, 0

    def __setitem__(self, index: int, row: np.ndarray) -> None:
        assert index == self.rows, "rows arrive in order"
        self.handle.write(np.ascontiguousarray(row, dtype=np.uint8).tobytes())
        self.rows += 1


def _preallocate(handle, size: int) -> None:
    """Claim the whole array's space up front: a disk too small fails at once, before any decoding."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a filesystem without it: plain writes still fail cleanly
                raise


def _build(directory: Path, name: str, folder: Path, files: Sequence[FileEntry], image_size: int,
           decode: Callable[[Path, int], np.ndarray], threads: int) -> Decoded:
    tag = f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp_array = directory / f"{name}.npy.{tag}"
    compact = directory / f"{name}.npy.{tag}.compact"
    tmp_index = directory / f"{name}.json.{tag}"
    shape = (len(files), image_size, image_size, 3)
    try:
        with open(tmp_array, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "|u1", "fortran_order": False, "shape": shape})
            _preallocate(handle, handle.tell() + int(np.prod(shape)))
            kept, failed = decode_all(folder, [f.relpath for f in files], image_size, decode, _RowWriter(handle), threads)
        if failed:  # rare: rewrite without the rows left empty by images that failed
            with open(compact, "wb") as handle:
                np.save(handle, np.load(tmp_array, mmap_mode="r")[: len(kept)])
            compact.replace(tmp_array)
        tmp_index.write_text(json.dumps({"version": CACHE_VERSION, "folder": str(folder), "image_size": image_size,
                                         "kept": kept, "failed": failed}))
        tmp_array.replace(directory / f"{name}.npy")
        tmp_index.replace(directory / f"{name}.json")  # last: the commit marker
    finally:
        for path in (tmp_array, compact, tmp_index):
            path.unlink(missing_ok=True)
    return Decoded(np.load(directory / f"{name}.npy", mmap_mode="r"), kept, failed, cache_hit=False)


def _remove_stale(directory: Path, prefix: str, keep: str) -> None:
    """Arrays of an older version of the same folder and size. A process still reading one keeps it
    alive through its memory map (POSIX unlink semantics)."""
    for path in directory.glob(f"{prefix}-*"):
        if not path.name.startswith(keep) and ".tmp-" not in path.name:
            path.unlink(missing_ok=True)
