"""What the Optuna study records beyond Optuna's own fields, so that optuna-dashboard and
`optuna.load_study` name what the terminal, trials.parquet, the report and the trackers name.

Each Optuna trial of a Tune trial carries, as user attributes:
- `trial_name` (`fusion_0007`) and `trial_folder` (its folder, relative to the run folder), set by
  `StudyTrialNames` when the trial starts: the searcher sees only Ray's trial ids, the callback the trial;
- `status`, as trials.parquet has it (completed, early_stopped, stopped_by_scheduler, failed), set by the
  searcher just before the study is told (faceauth.tuning.searcher). A suggestion answered from the
  study as a repeat of an evaluated configuration has `status` repeat and `same_configuration_as`, the
  name of the trial that trained it (its Ray id if it had not started when the repeat was told). Optuna's own state says less:
  a trial that ASHA stopped, or whose patience ran out, is COMPLETE with the value of the model it kept.
An Optuna trial cannot change once told, so what is known only after the search (which trial became
best/ and its test figures) is recorded on the study (`record_best`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback

from faceauth.tuning.result import load_study, study_storage
from faceauth.tuning.trial_reports import is_number

RAY_TRIAL_ID = "ray_trial_id"  # the Tune trial an Optuna trial is (read by result.optuna_numbers)
TRIAL_NAME = "trial_name"
TRIAL_FOLDER = "trial_folder"
STATUS = "status"
REPEAT = "repeat"  # the status of a suggestion answered from the study without training
BEST_TRIAL = "best_trial"  # a study attribute: the trial best/ holds, by name


class StudyTrialNames(Callback):
    """Names each Optuna trial after its Tune trial when the trial starts (it is still running in the
    study then, so it can be written). Keeps no open storage in its pickled state (it travels in
    tuner.pkl); opens the study's journal when first needed."""

    def __init__(self, study_path: Path, study_name: str) -> None:
        self.study_path, self.study_name = Path(study_path), study_name
        self._storage = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_storage": None}

    def on_trial_start(self, iteration: int, trials: list, trial, **info: Any) -> None:
        if self._storage is None:
            self._storage = study_storage(self.study_path)
        study_id = self._storage.get_study_id_from_name(self.study_name)
        for frozen in self._storage.get_all_trials(study_id, deepcopy=False):
            # A restarted trial that the study was told of already (an errored trial resumed) stays as told.
            if frozen.user_attrs.get(RAY_TRIAL_ID) == trial.trial_id and not frozen.state.is_finished():
                trial_id = self._storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
                self._storage.set_trial_user_attr(trial_id, TRIAL_NAME, str(trial))
                self._storage.set_trial_user_attr(trial_id, TRIAL_FOLDER, Path(trial.path).name)


def record_best(study_path: Path, study_name: str, trial_name: str, number: int | None, metric: str,
                value: float, test: dict[str, Any]) -> None:
    """The trial best/ holds, on the study: its name, Optuna number, kept validation value and test
    figures (`best_test_<metric>`); optuna-dashboard lists them with the study's user attributes."""
    if not Path(study_path).is_file():  # a run from before the study was kept on disk
        return
    study = load_study(study_path, study_name)
    study.set_user_attr(BEST_TRIAL, trial_name)
    if number is not None:
        study.set_user_attr("best_trial_number", int(number))
    study.set_user_attr(f"best_validation_{metric}", float(value))
    for key, figure in test.items():
        if is_number(figure):
            study.set_user_attr(f"best_test_{key}", float(figure))
