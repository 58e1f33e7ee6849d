"""Where a command writes: checked before any work, so that a wrong path costs nothing.

Outputs are written under a temporary name and renamed over the target, and a rename replaces
whatever stands there — a device such as /dev/full, or one of the command's own inputs. So an
output must be a regular file or not exist yet, and must not be one of the inputs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

from faceauth.io.errors import FaceauthError


def check_output(path: str | Path, flag: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Refuse, naming `flag` and the path, an output that is a directory, a device or another
    non-file, one whose folder is a file, or one that is also an input of the same command."""
    path = Path(path).expanduser()
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # the folder checks below say which
        mode = None
    except OSError as err:
        raise FaceauthError(f"{flag} {path}: cannot be used as an output ({err.strerror}); give a file path") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device or other special file"
        raise FaceauthError(f"{flag} {path} is {kind}, not a file: writing there would replace it; give a file path")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise FaceauthError(f"{flag} {path}: {parent} is not a folder; give a path inside a folder")
            # A read-only mount, a folder not yours, or one where nothing can be created (under /proc, where
            # even root's access() says yes): known now, not after training.
            probe_write(parent, f"{flag} {path}")
            break
    resolved = path.resolve()
    for source in inputs:
        if source and Path(source).expanduser().exists() and Path(source).expanduser().resolve() == resolved:
            raise FaceauthError(f"{flag} {path} is also an input of this command ({source}): writing it would "
                                "destroy that input; give another output path")
    return path


def check_output_folder(path: str | Path, flag: str) -> Path:
    """Check, before any work, that a command can write into the folder `path` (a search's storage, a log
    folder), creating nothing: refuse, naming `flag` and the path, one that is a file, lies inside a file,
    or sits where no file can be written (a path under /proc, a read-only or full mount)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise FaceauthError(f"{flag} {path} is a file, not a folder; give a folder")
    existing = path if path.exists() else next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        raise FaceauthError(f"{flag} {path}: {existing} is not a folder; give a path inside a folder")
    probe_write(existing, f"{flag} {path}")  # the nearest folder that exists: where the first file or folder would go
    return path


def probe_write(folder: Path, what: str) -> None:
    """Create and remove a file in `folder`, or raise FaceauthError beginning with `what` (flag and path)."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".faceauth-write-check-"):
            pass
    except OSError as err:
        raise FaceauthError(f"{what}: cannot be written ({err.strerror} in {folder}); give a path in a folder you can "
                            "write") from None
