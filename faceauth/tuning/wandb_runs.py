"""Weights & Biases runs with faceauth's metrics only, ending with the kept model's figures, as the
MLflow runs do (faceauth.tuning.mlflow_runs): Ray's WandbLoggerCallback logs every key of a report
(done, pid, timestamps, config/...) and leaves each run's summary at its last epoch, not at the model
the trial keeps."""

from __future__ import annotations

from ray.air.constants import TRAINING_ITERATION
from ray.air.integrations.wandb import WandbLoggerCallback, _QueueItem

from faceauth.tuning.trial_reports import KeptReports, kept_figures, model_metrics


class FaceauthWandbCallback(WandbLoggerCallback):
    def setup(self, *args, **kwargs) -> None:
        super().setup(*args, **kwargs)
        self._kept = KeptReports()

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        self._kept.see(trial, result)
        # W&B's step: the report's iteration (epochs count from 0, iterations from 1).
        super().log_trial_result(iteration, trial, {**model_metrics(result), TRAINING_ITERATION: result.get(TRAINING_ITERATION)})

    def log_trial_end(self, trial, failed: bool = False) -> None:
        last = trial.last_result or {}
        if trial in self._trial_queues and last.get("kept_epoch") is not None:
            # One more entry after the last epoch (W&B steps only increase): kept_<metric>, the run's summary of
            # the model the trial keeps, the figure every other view shows for it.
            figures = {**kept_figures(self._kept.pop(trial, last), last), "kept_epoch": int(last["kept_epoch"])}
            self._trial_queues[trial].put((_QueueItem.RESULT, figures))
        super().log_trial_end(trial, failed)
