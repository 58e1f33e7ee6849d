"""What a trial's reports say, read the same way by the searcher and every tracker (MLflow,
TensorBoard): faceauth's metrics without Ray's bookkeeping, the report of the model the trial keeps,
and how the trial ended.

A trial keeps the model of its last checkpoint, which need not be its last epoch's (faceauth.training.fit keeps
an epoch only where it beats the best so far); every report carries `kept_epoch`, and the report whose
`epoch` is that epoch holds the kept model's figures. Those figures are the ones best/, trials.parquet,
the study and the report use, so the trackers log them too, as `kept_<metric>`, beside each epoch's.
"""

from __future__ import annotations

from typing import Any

# Ray adds these to every report (iterations, pids, timestamps, the trial's config again as
# `config/<key>`): not metrics of the model, and the hyperparameters are a run's params already.
RAY_RESULT_KEYS = frozenset({
    "config", "date", "done", "hostname", "iterations_since_restore", "node_ip", "pid", "should_checkpoint",
    "time_since_restore", "time_this_iter_s", "time_total_s", "timestamp", "timesteps_since_restore",
    "timesteps_total", "training_iteration", "trial_id", "experiment_tag", "checkpoint_dir_name",
})
# faceauth's own keys in a report that say how an epoch ran, not what its model scores.
NOT_FIGURES = frozenset({"epoch", "kept_epoch", "epoch_time_s", "loop_time_s", "workers", "completed",
                         "early_stopped", "train_loss"})


def model_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """A trial's report without Ray's bookkeeping: the task's metrics, the train loss, best_<metric>
    (the value the trial keeps), the epoch and its time, the cost."""
    return {k: v for k, v in result.items() if k not in RAY_RESULT_KEYS and not k.startswith("config/")}


def is_kept_report(result: dict[str, Any]) -> bool:
    """The report that saved the model the trial keeps (so far): its epoch is the `kept_epoch`."""
    return result.get("kept_epoch") is not None and result.get("kept_epoch") == result.get("epoch")


class KeptReports:
    """The report of the model each trial keeps, by trial, gathered as the reports arrive."""

    def __init__(self) -> None:
        self._reports: dict[Any, dict[str, Any]] = {}

    def see(self, trial: Any, result: dict[str, Any]) -> None:
        if is_kept_report(result):
            self._reports[trial] = dict(result)

    def pop(self, trial: Any, last: dict[str, Any] | None) -> dict[str, Any] | None:
        """The kept model's report once the trial has ended with `last` (None for a trial that failed,
        which Tune ends with no report: then the last kept report seen). None where it was not seen (a
        driver restarted after it: a resumed trial's earlier reports are not reported again)."""
        kept = self._reports.pop(trial, None)
        if kept is None or (last is not None and kept.get("epoch") != last.get("kept_epoch")):
            return None
        return kept


def kept_figures(kept: dict[str, Any] | None, last: dict[str, Any] | None) -> dict[str, float]:
    """`kept_<metric>` for every figure of the kept model's report. Without that report, the figure
    every report carries for it, `best_<metric>` (the kept value of the objective), is all there is."""
    if kept is not None:
        figures = {k: v for k, v in model_metrics(kept).items() if k not in NOT_FIGURES and not k.startswith("best_")}
    else:
        figures = {k.removeprefix("best_"): v for k, v in (last or {}).items() if k.startswith("best_")}
    return {f"kept_{k}": float(v) for k, v in figures.items() if is_number(v)}


def ending_status(last: dict[str, Any] | None, failed: bool) -> str:
    """How a trial ended, in trials.parquet's words: failed, completed (every epoch), early_stopped
    (the trainer's patience) or stopped_by_scheduler (ASHA stopped it)."""
    if failed:
        return "failed"
    last = last or {}
    return "completed" if last.get("completed") else "early_stopped" if last.get("early_stopped") else "stopped_by_scheduler"


def is_number(value: Any) -> bool:
    """A figure a tracker can log: a number, not a flag, not NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
