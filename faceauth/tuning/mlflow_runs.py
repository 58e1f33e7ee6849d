"""MLflow runs of a search's trials: Ray's MLflowLoggerCallback, logging what faceauth reported only.

Ray adds its bookkeeping to every report (faceauth.tuning.trial_reports.RAY_RESULT_KEYS); only
faceauth's metrics are logged, each report at the step of its epoch (epoch 0, the validated start, is
step 0), the steps the trainer, trials.parquet and the report use. A metric's latest value in MLflow
is its last epoch's, which need not be the model the trial keeps: when the trial ends, the kept
model's figures are logged as `kept_<metric>` at the step of the kept epoch, with the tags
`faceauth.kept_epoch` and `faceauth.status`, so the run's summary names the value the study, the
report and best/ use.
"""

from __future__ import annotations

from ray.air.integrations.mlflow import MLflowLoggerCallback

from faceauth.tuning.trial_reports import KeptReports, ending_status, kept_figures, model_metrics


class FaceauthMLflowCallback(MLflowLoggerCallback):
    def setup(self, *args, **kwargs) -> None:
        super().setup(*args, **kwargs)
        self._kept = KeptReports()

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        step = int(result.get("epoch", result.get("training_iteration", iteration)))
        self.mlflow_util.log_metrics(run_id=self._trial_runs[trial], metrics_to_log=model_metrics(result), step=step)
        self._kept.see(trial, result)

    def log_trial_end(self, trial, failed: bool = False) -> None:
        if trial in self._trial_runs:
            self._log_kept(self._trial_runs[trial], trial, trial.last_result or {}, failed)
        super().log_trial_end(trial, failed)

    def _log_kept(self, run_id: str, trial, last: dict, failed: bool) -> None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        client.set_tag(run_id, "faceauth.status", ending_status(last, failed))
        if last.get("kept_epoch") is None:  # the trial never reported a model
            return
        kept_epoch = int(last["kept_epoch"])
        figures = kept_figures(self._kept.pop(trial, last), last)
        self.mlflow_util.log_metrics(run_id=run_id, metrics_to_log=figures, step=kept_epoch)
        client.set_tag(run_id, "faceauth.kept_epoch", str(kept_epoch))
