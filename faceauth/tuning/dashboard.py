"""The Ray dashboard, for a search: a named job, the way in (token authentication), a private token.

Ray 2.60 turns token authentication on by default: the dashboard asks for the token that the first
start wrote to ~/.ray/auth_token (or the file named by RAY_AUTH_TOKEN_PATH); `ray get-auth-token`
prints it. That token lets its holder run code on the cluster, so faceauth keeps the file readable
by its owner only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

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
    """Before joining a cluster: Ray 2.60 clusters ask for a token by default, and a driver sends its
    token only with RAY_AUTH_MODE=token in its environment (without it Ray prints 20 s of
    "InvalidAuthToken" lines, then "Failed to connect", as if no cluster were there). With a token
    file and no mode set, the mode is set here. Returns what to tell a user whose join fails."""
    path = token_path()
    if "RAY_AUTH_MODE" not in os.environ and (path.is_file() or os.environ.get("RAY_AUTH_TOKEN")):
        os.environ["RAY_AUTH_MODE"] = "token"
        logger.info(f"joining with the Ray token in {'RAY_AUTH_TOKEN' if os.environ.get('RAY_AUTH_TOKEN') else path}")
    where = "RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN") else (f"{path}" if path.is_file() else f"{path} (missing)")
    return (f"If the cluster uses token authentication (Ray's default), the token tried was from {where}: it must be the "
            "head's (`ray get-auth-token` on the head prints it; put it in that file or in RAY_AUTH_TOKEN), "
            "with RAY_AUTH_MODE=token")


def dashboard_login_hint() -> str:
    if not token_auth_on():
        return ""
    return f"  (it asks for a token: `ray get-auth-token` prints it, from {token_path()})"


def job_config(job_name: str):
    """The driver's job, named in the dashboard's Jobs view after the task and the run."""
    from ray.job_config import JobConfig

    return JobConfig(metadata={"job_name": job_name})
