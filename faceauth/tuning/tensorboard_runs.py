"""TensorBoard event files of a search's trials, in place of Ray's TBXLoggerCallback.

Ray's logger writes every key of a report under `ray/tune/` (its bookkeeping too: done, pid,
should_checkpoint, timesteps, ...) at step `training_iteration`, which counts reports from 1, so
epoch 0 (the validated start) is step 1. This one writes faceauth's metrics only, under their own
names, at the step of their epoch; when the trial ends, the kept model's figures as `kept_<metric>`
at the kept epoch, with the trial's hyperparameters (TensorBoard's HPARAMS view lists each trial
with the value it keeps). Each trial's events go to its folder, named after the trial
(`runs/<name>/fusion_0007/`), so `tensorboard --logdir runs/<name>` names the runs as every other view.

Being a TBXLoggerCallback, it stands in for the one Tune would add on its own
(ray/tune/utils/callback.py adds a TBXLoggerCallback unless the callbacks hold one), and Ray writes
no event files of its own.
"""

from __future__ import annotations

from typing import Any

from ray.tune.logger import TBXLoggerCallback

from faceauth.tuning.trial_reports import KeptReports, is_number, kept_figures, model_metrics

HPARAM_TYPES = (str, bool, int, float)  # what TensorBoard's HPARAMS view takes


class FaceauthTensorBoardCallback(TBXLoggerCallback):
    def __init__(self) -> None:
        super().__init__()  # imports tensorboardX (a dependency of ray[tune]): ImportError without it
        self._kept = KeptReports()

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        if trial not in self._trial_writer:
            self.log_trial_start(trial)
        writer = self._trial_writer[trial]
        step = int(result.get("epoch", result.get("training_iteration", iteration)))
        for key, value in model_metrics(result).items():
            if key != "epoch" and is_number(value):
                writer.add_scalar(key, float(value), global_step=step)
        writer.flush()
        self._kept.see(trial, result)

    def log_trial_end(self, trial, failed: bool = False) -> None:
        writer = self._trial_writer.pop(trial, None)
        self._trial_result.pop(trial, None)
        if writer is None:
            return
        last = trial.last_result or {}
        if last.get("kept_epoch") is not None:
            figures = kept_figures(self._kept.pop(trial, last), last)
            for key, value in figures.items():
                writer.add_scalar(key, value, global_step=int(last["kept_epoch"]))
            _write_hparams(writer, trial.config or {}, figures)
        writer.close()


def _write_hparams(writer, config: dict[str, Any], figures: dict[str, float]) -> None:
    """The trial's hyperparameters against its kept figures: the HPARAMS view reads the figures'
    values from the scalars of the same names."""
    from tensorboardX.summary import hparams

    params = {k: v for k, v in config.items() if isinstance(v, HPARAM_TYPES)}
    for summary in hparams(hparam_dict=params, metric_dict=figures):
        writer.file_writer.add_summary(summary)
