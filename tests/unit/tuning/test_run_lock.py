"""One search at a time on a run folder: a resume waits for a search still holding the folder (an
interrupted one saving its state), a new search with a running one's name stops at once; a process
that ends releases its hold, killed or not."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from faceauth.io.errors import FaceauthError
from faceauth.tuning.run_lock import lock_path, run_lock

HOLD = """
import sys, time
from faceauth.tuning.run_lock import run_lock
with run_lock(sys.argv[1], "search", resume=False):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(storage, seconds: float) -> subprocess.Popen:
    """Another process holding storage/search, as a running search does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(storage), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_resume_waits_for_the_search_that_holds_the_folder(tmp_path):
    holder = hold(tmp_path, 2.0)
    started = time.monotonic()
    with run_lock(str(tmp_path), "search", resume=True, wait_s=60):
        waited = time.monotonic() - started
    assert holder.wait(timeout=10) == 0
    assert 1.0 < waited < 30  # it went on once the holder let go (after its 2 s), not before


def test_a_new_search_on_a_running_ones_folder_stops_at_once_naming_it(tmp_path):
    holder = hold(tmp_path, 30.0)
    try:
        started = time.monotonic()
        with pytest.raises(FaceauthError, match=rf"another search \(process {holder.pid}\) is still running .*choose another --name"):
            with run_lock(str(tmp_path), "search", resume=False):
                pass
        assert time.monotonic() - started < 5
        with pytest.raises(FaceauthError, match=r"after 1 s of waiting; let it finish \(or stop it\), then resume again"):
            with run_lock(str(tmp_path), "search", resume=True, wait_s=1):
                pass
    finally:
        holder.kill()  # a killed search releases its hold too
        holder.wait()
    with run_lock(str(tmp_path), "search", resume=True, wait_s=5):
        pass


def test_the_lock_is_outside_the_storage_and_uri_storage_is_not_locked(tmp_path):
    with run_lock(str(tmp_path / "runs"), "search", resume=False):
        assert not (tmp_path / "runs").exists()  # nothing written into the storage before the request is checked
        assert lock_path(tmp_path / "runs" / "search").is_file()
        with run_lock("s3://bucket/runs", "search", resume=False):
            pass
