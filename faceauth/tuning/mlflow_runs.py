"""MLflow runs of a search's trials: Ray's MLflowLoggerCallback, logging what faceauth reported only.

Ray adds its bookkeeping to every report (iterations, pids, timestamps, the trial's config again as
`config/<key>`); those are not metrics of the model, and the hyperparameters are the run's params
already. Each report is logged at the step of its epoch (epoch 0, the validated start, is step 0), the
steps the trainer, trials.parquet and the report use.
"""

from __future__ import annotations

from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback

RAY_RESULT_KEYS = frozenset({
    "config", "date", "done", "hostname", "iterations_since_restore", "node_ip", "pid", "should_checkpoint",
    "time_since_restore", "time_this_iter_s", "time_total_s", "timestamp", "timesteps_since_restore",
    "timesteps_total", "training_iteration", "trial_id", "experiment_tag", "checkpoint_dir_name",
})


def model_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """A trial's report without Ray's bookkeeping: the task's metrics, the train loss, best_<metric>
    (the value the trial keeps), the epoch and its time, the cost."""
    return {k: v for k, v in result.items() if k not in RAY_RESULT_KEYS and not k.startswith("config/")}


class FaceauthMLflowCallback(MLflowLoggerCallback):
    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        step = int(result.get("epoch", result.get("training_iteration", iteration)))
        self.mlflow_util.log_metrics(run_id=self._trial_runs[trial], metrics_to_log=model_metrics(result), step=step)
