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


def dashboard_login_hint() -> str:
    if not token_auth_on():
        return ""
    return f"  (it asks for a token: `ray get-auth-token` prints it, from {token_path()})"


def job_config(job_name: str):
    """The driver's job, named in the dashboard's Jobs view after the task and the run."""
    from ray.job_config import JobConfig

    return JobConfig(metadata={"job_name": job_name})
