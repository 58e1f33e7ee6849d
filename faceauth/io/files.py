"""File helpers every task shares: a file's hash, an exclusive lock, a folder generated once under a
lock, and the bounded listing of bad files that error messages use."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Sequence

from faceauth.io.errors import FaceauthError

_sha256_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path, what: str = "file") -> str:
    """The file's SHA-256, remembered per (path, size, mtime) so that a Tune actor or a second run in
    one process does not re-read a 250 MB model to learn that nothing changed. An unreadable file is a
    FaceauthError naming it (`what`: how the message calls it, e.g. "model file")."""
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _sha256_memo:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _sha256_memo[key] = digest.hexdigest()
    except OSError as err:
        raise FaceauthError(f"cannot read the {what} {path} ({err.strerror}); check the path and its permissions") from None
    return _sha256_memo[key]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing), released on exit or process death."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def generated_once(target: Path, write: Callable[[Path], None]) -> bool:
    """Make the folder `target` with `write(folder)` unless it exists: written into a temporary folder
    and renamed into place (atomic), under a lock, so concurrent processes neither read a half-written
    folder nor write it twice; what an interrupted write left is removed. True when this call wrote it."""
    if target.is_dir():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent / f"{target.name}.lock"):
        if target.is_dir():  # written by another process while this one waited
            return False
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write(tmp)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def bounded_lines(lines: Sequence[str], limit: int | None = 50) -> list[str]:
    """Many bad files in one message: the first `limit` lines (all with None), then how many more."""
    if limit is None or len(lines) <= limit:
        return list(lines)
    return [*lines[:limit], f"  ... and {len(lines) - limit} more"]
