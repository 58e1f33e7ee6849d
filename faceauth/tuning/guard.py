"""A search never hangs: `SearchGuard` ends it, naming the cause, when trials keep failing or when
trials wait for resources while none runs.

Ray Tune on its own retries a failing trial setup and re-requests the resources of a trial that
cannot be placed for as long as the driver lives (a GPU trial on a node without the GPU, a node that
left, a worker group that cannot start): the progress table then repeats "Requesting resources" with
nothing running. The guard is a Tune callback that watches every step, and a Stopper (polled by
Tune every step) that stops the whole search once it has a reason. The reason is written to the run
folder (`STOPPED_FILE`), where the command reads it, says it, and exits non-zero with what finished.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper

STOPPED_FILE = "search-stopped.json"
DEFAULT_STUCK_S = 600.0


class SearchGuard(Callback, Stopper):
    """`failures_in_a_row`: trials that failed one after another (after their retries) with no trial
    reporting in between; a diverged trial (NaN loss) does not count: it is a result of its
    hyperparameters, not of the search. `stuck_s`: how long trials may wait for resources while
    none runs."""

    def __init__(self, run_dir: str | Path, failures_in_a_row: int, stuck_s: float = DEFAULT_STUCK_S):
        self.run_dir = str(run_dir)
        self.failures_in_a_row = failures_in_a_row
        self.stuck_s = stuck_s
        self._failed: list[str] = []
        self._waiting_since: float | None = None
        self.reason: str | None = None

    def setup(self, **info: Any) -> None:  # a resumed search starts counting afresh
        self._failed, self._waiting_since, self.reason = [], None, None

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        self._failed = []

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        line = error_line(trial)
        if "TrainingDiverged" in line or "loss became" in line:
            return
        self._failed.append(f"{trial}: {line}")
        if len(self._failed) >= self.failures_in_a_row:
            self._stop(f"the last {len(self._failed)} trials failed one after another, none reporting a result in "
                       f"between; the most recent: {self._failed[-1]}. Fix that cause (trials.parquet has each "
                       "trial's error) and run the search again")

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        waiting = [t for t in trials if t.status == "PENDING"]
        if any(t.status == "RUNNING" for t in trials) or not waiting:
            self._waiting_since = None
            return
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        elif now - self._waiting_since > self.stuck_s and self.reason is None:
            wanted = _resources(waiting[0])
            self._stop(f"for {self.stuck_s:g} s no trial could start: {len(waiting)} trial(s) waited for {wanted} "
                       "while none ran (the cluster no longer has them free: a node left, or another job holds "
                       "them). Free or add those resources, or lower --cpus-per-worker/--gpus-per-worker, then "
                       "--resume; --stuck-timeout-s sets this wait")

    def stop_all(self) -> bool:
        return self.reason is not None

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def _stop(self, reason: str) -> None:
        self.reason = reason
        path = Path(self.run_dir) / STOPPED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"reason": reason, "time": time.time()}))
        tmp.replace(path)


def error_line(trial) -> str:
    """The last line of a failed trial's error, as Tune keeps it (the FaceauthError's message)."""
    from faceauth.tuning.best import reason_line

    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        return reason_line(Path(path).read_text(errors="replace")) or "unknown error"
    return "unknown error (no error file)"


def _resources(trial) -> str:
    try:
        bundles = trial.placement_group_factory.bundles
        return ", ".join(json.dumps(b) for b in bundles)
    except AttributeError:
        return "its resources"


def read_stop_reason(run_dir: Path) -> str | None:
    path = Path(run_dir) / STOPPED_FILE
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text())["reason"])
    except (ValueError, KeyError, OSError):
        return "the search guard stopped the search (its record is unreadable)"
