"""What a search returns to Python: the run folder's results as objects, not only as files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STUDY_FILE = "optuna-study.log"  # an Optuna JournalStorage file: optuna.load_study and optuna-dashboard read it
# An Optuna trial answered from the study without training: the Tune trial that evaluated its configuration.
SAME_AS = "same_configuration_as"
# The study's user attribute set when the searcher found no new configuration (the space is exhausted).
EXHAUSTED = "space_exhausted_after"


@dataclass
class SearchResult:
    """A finished (or interrupted) search. `finished` is False when it stopped before its trial budget
    (Ctrl-C): then there is no best/ and `resume_command` continues it."""

    task: str
    name: str
    run_dir: Path  # runs/<name>/: trials.parquet, best/, the Optuna study
    finished: bool
    result_grid: Any  # Ray Tune's ResultGrid
    resume_command: str = ""

    @property
    def best_dir(self) -> Path | None:
        best = self.run_dir / "best"
        return best if (best / "metrics.json").is_file() else None

    @property
    def metrics(self) -> dict[str, Any]:
        """best/metrics.json: the verdict, validation and test metrics, baselines, ONNX parity, versions."""
        if self.best_dir is None:
            return {}
        return json.loads((self.best_dir / "metrics.json").read_text())

    @property
    def test_metrics(self) -> dict[str, Any]:
        return self.metrics.get("test", {})

    @property
    def baselines(self) -> dict[str, dict[str, Any]]:
        """The baselines' test metrics on the same pairs or samples, by name."""
        return self.metrics.get("test_baselines", {})

    @property
    def verdict(self) -> dict[str, Any] | None:
        return self.metrics.get("verdict")

    @property
    def over_defaults(self) -> dict[str, Any] | None:
        """What the search added over its defaults (faceauth.tuning.over_defaults): the best trial against
        the defaults trial on the test data, with the interval; `summary` says it in one sentence."""
        return self.metrics.get("over_defaults")

    @property
    def best_hyperparameters(self) -> dict[str, Any]:
        return self.metrics.get("hyperparameters", {})

    @property
    def trials(self):
        """trials.parquet as a pandas DataFrame: one row per trial."""
        import pandas as pd

        return pd.read_parquet(self.run_dir / "trials.parquet")

    @property
    def study_path(self) -> Path:
        return self.run_dir / STUDY_FILE

    @property
    def study(self):
        """The search's Optuna study, read from its journal file (as optuna-dashboard reads it)."""
        return load_study(self.study_path, self.name)


def study_storage(path: Path):
    import optuna

    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def load_study(path: Path, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=study_storage(path))


@dataclass(frozen=True)
class StudyRecord:
    """What the searcher left in the study beyond the trials Tune ran (faceauth.tuning.searcher)."""

    numbers: dict[str, int]  # Tune trial id -> its Optuna trial's number
    answered: int  # suggestions that repeated an evaluated configuration, answered without training
    exhausted: bool  # the searcher found no configuration left that was not evaluated


def read_study_record(path: Path, name: str) -> StudyRecord:
    if not path.is_file():
        return StudyRecord({}, 0, False)
    study = load_study(path, name)
    numbers = {t.user_attrs["ray_trial_id"]: t.number for t in study.trials if "ray_trial_id" in t.user_attrs}
    answered = sum(SAME_AS in t.user_attrs for t in study.trials)
    return StudyRecord(numbers, answered, EXHAUSTED in study.user_attrs)


def optuna_numbers(path: Path, name: str) -> dict[str, int]:
    """Tune trial id -> its Optuna trial's number, from the study's `ray_trial_id` attributes."""
    return read_study_record(path, name).numbers
