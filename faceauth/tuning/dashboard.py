"""The Ray dashboard, for a search: a named job, the way in (token authentication), a private token.

Ray 2.60 turns token authentication on by default: the dashboard asks for the token that the first
start wrote to ~/.ray/auth_token (or the file named by RAY_AUTH_TOKEN_PATH); `ray get-auth-token`
prints it. That token lets its holder run code on the cluster, so faceauth keeps the file readable
by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
from pathlib import Path

from faceauth.io.errors import FaceauthError
from faceauth.io.log import logger


def token_path() -> Path:
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def secure_token_file() -> Path | None:
    """Tighten the token file to 0600 when it is ours and others can read it; its path, or None."""
    path = token_path()
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_uid == os.getuid() and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        os.chmod(path, 0o600)
        logger.info(f"made the Ray token file {path} readable by its owner only (it was mode {stat.S_IMODE(info.st_mode):o})")
    return path


def token_auth_on() -> bool:
    return os.environ.get("RAY_AUTH_MODE", "token") != "disabled" and token_path().is_file()


def token_for_cluster() -> str:
    """What to tell a user whose join of a cluster fails. Ray 2.60 clusters started with `ray start`
    ask for a token by default, and a driver sends its token only with RAY_AUTH_MODE=token in its
    environment: without it Ray prints 20 s of "InvalidAuthToken" lines, then "Failed to connect", as
    if no cluster were there. The mode is not set here: a cluster that does not use it (one started
    from Python, e.g. ray.cluster_utils) then loses its trials' actors."""
    path = token_path()
    where = "RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN") else (f"{path}" if path.is_file() else f"{path} (missing)")
    mode = os.environ.get("RAY_AUTH_MODE")
    return (f"If the cluster uses token authentication (`ray start`'s default), export RAY_AUTH_MODE=token (it is "
            f"{'set to ' + repr(mode) if mode else 'not set'}) with the head's token in {where}: `ray get-auth-token` on "
            "the head prints it; put it in that file or in RAY_AUTH_TOKEN")


def check_token(address: str) -> None:
    """Before Ray starts: FaceauthError at once when the cluster at `address` ("auto" or HOST:PORT of its
    GCS) refuses this process's token (one request, under a second), where ray.init would retry for
    20 s, printing a line a second, and then report no cluster. Where it cannot tell (e.g. "auto" with
    no cluster started here), ray.init says what is wrong."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        gcs = canonicalize_bootstrap_address(address)
    except Exception:  # noqa: BLE001 (Ray's own reasons; ray.init gives them)
        return
    if not gcs or not answers(gcs):  # e.g. the record of a cluster that has since stopped: ray.init reports it
        return
    reason = refused_token(gcs)
    if reason:
        raise FaceauthError(f"--address {address}: the cluster at {gcs} refused this machine's Ray token ({reason}). "
                            f"{token_for_cluster()}")


def answers(gcs: str, timeout_s: float = 5.0) -> bool:
    host, _, port = gcs.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        return False
    return True


def refused_token(gcs: str) -> str | None:
    """Ray's reason when the GCS at `gcs` (host:port) refuses the token this process would send, else None."""
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError

    try:
        with stderr_silenced():  # Ray's C++ client prints its own warning line for the refusal
            GcsClient(address=gcs)
    except AuthenticationError as err:
        return str(err).split(". ")[0]  # its first sentence; the hint that follows says the rest
    except Exception:  # noqa: BLE001 (anything else: ray.init tells it)
        return None
    return None


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 to /dev/null for the block (a C++ library's lines do not pass through sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def dashboard_login_hint() -> str:
    if not token_auth_on():
        return ""
    return f"  (it asks for a token: `ray get-auth-token` prints it, from {token_path()})"


def job_config(job_name: str):
    """The driver's job, named in the dashboard's Jobs view after the task and the run."""
    from ray.job_config import JobConfig

    return JobConfig(metadata={"job_name": job_name})
