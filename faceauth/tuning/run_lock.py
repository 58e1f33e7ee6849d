"""One search at a time on a run folder, on this machine.

A search interrupted with Ctrl-C takes a few seconds to save Tune's state, seal the run folder and stop
Ray; a `--resume` started meanwhile would read a folder still being written. Each search holds an
exclusive lock for its run folder from before it reads the folder until its process ends (the
operating system releases it then, also for a killed process). A resume waits for the lock; a new
search with the name of one still running stops at once. The lock file lives in the system's
temporary folder, keyed by the run folder's absolute path, so that nothing is written into the
storage before the request is checked. Storage given as a URI (s3://...) is not locked: its run
folders are shared between machines, which a local lock cannot cover.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

from faceauth.io.errors import FaceauthError
from faceauth.io.log import logger

RESUME_WAIT_S = 120.0
POLL_S = 0.5


def lock_path(run_dir: Path) -> Path:
    key = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "faceauth-run-locks" / f"{key}.lock"


@contextlib.contextmanager
def run_lock(storage: str, name: str, resume: bool, wait_s: float = RESUME_WAIT_S) -> Iterator[None]:
    """Hold the run folder `storage`/`name` for this search; a resume waits up to `wait_s` for a search
    still holding it, anything else stops at once. FaceauthError names the process that holds it."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): one search at a time is the user's to keep
        yield
        return
    if "://" in storage:
        yield
        return
    run_dir = Path(storage) / name
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline, told = time.monotonic() + (wait_s if resume else 0.0), False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time.monotonic() >= deadline:
                    raise FaceauthError(
                        f"{run_dir}: another search ({holder}) is still running on this run folder"
                        + (f" after {wait_s:.0f} s of waiting" if resume else "")
                        + "; let it finish (or stop it), then " + ("resume again" if resume else "start this one, or choose another --name")) from None
                if not told:
                    logger.info(f"{run_dir}: waiting for another search ({holder}) to finish with this run folder (an "
                                f"interrupted search saving its state?), up to {wait_s:.0f} s")
                    told = True
                time.sleep(POLL_S)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "a process"
