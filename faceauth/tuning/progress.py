"""What the terminal shows while a search runs: one line per trial as it ends, and a status line now
and then, in place of Tune's per-trial configuration and result boxes (Tune runs with verbose=0).

    fusion_0003  early stopped   tar_at_far_1e-3 0.8396  kept epoch 3 of 4   6 s  | lr 0.0061, loss triplet, ...
    [  95 s] 12 of 50 trials ended, 2 running; best tar_at_far_1e-3 0.8575 (fusion_0009)

The value is the one the trial keeps (its best epoch's, `best_<metric>`), the figure the study, the
trials table and best/ use, and the line says which epoch that was of the epochs the trial ran. Lines are cut to 120 columns; the run folder holds everything.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback

from faceauth.io.formatting import format_hyperparameters
from faceauth.io.log import logger
from faceauth.tuning.trial_reports import ending_status

WIDTH = 120
STATUS_EVERY_S = 30.0
# trials.parquet's statuses as a line reads them.
SHOWN_STATUS = {"completed": "completed", "early_stopped": "early stopped", "stopped_by_scheduler": "stopped by ASHA",
                "failed": "failed"}


class ProgressLines(Callback):
    def __init__(self, metric: str, mode: str, total: int, parameters: tuple[str, ...]):
        self.metric, self.mode, self.total, self.parameters = metric, mode, total, parameters
        self._started = time.monotonic()
        self._last_status = self._started
        self._ended = 0
        self._best: tuple[float, str] | None = None

    def setup(self, **info: Any) -> None:  # a resumed search: its own clock
        self._started = self._last_status = time.monotonic()

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        result = trial.last_result or {}
        self._line(trial, SHOWN_STATUS[ending_status(result, failed=False)], result)

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self._line(trial, SHOWN_STATUS[ending_status(None, failed=True)], trial.last_result or {})

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if now - self._last_status >= STATUS_EVERY_S:
            self._last_status = now
            running = sum(t.status == "RUNNING" for t in trials)
            logger.info(cut(f"[{now - self._started:5.0f} s] {self._ended} of {self.total} trials ended, {running} running"
                            + self._best_text()))

    def _line(self, trial, status: str, result: dict[str, Any]) -> None:
        self._ended += 1
        value = result.get(f"best_{self.metric}", result.get(self.metric))
        name = str(trial)
        if isinstance(value, (int, float)) and (self._best is None or (value > self._best[0] if self.mode == "max"
                                                                        else value < self._best[0])):
            self._best = (float(value), name)
        shown = f"{self.metric} {value:.4f}" if isinstance(value, (int, float)) else f"{self.metric} -"
        params = {k: v for k, v in (trial.config or {}).items() if k in self.parameters}
        last, kept = result.get("epoch", "-"), result.get("kept_epoch", result.get("epoch", "-"))
        logger.info(cut(f"{name:<14} {status:<15} {shown}  kept epoch {kept} of {last}  "
                        f"{result.get('time_total_s', 0.0):4.0f} s  | {format_hyperparameters(params)}"))

    def _best_text(self) -> str:
        return f"; best {self.metric} {self._best[0]:.4f} ({self._best[1]})" if self._best else ""


def cut(line: str) -> str:
    return line if len(line) <= WIDTH else line[:WIDTH - 3] + "..."
