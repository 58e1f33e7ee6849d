"""The search's Optuna searcher: Ray's OptunaSearch, whose Optuna trials name their Tune trials and
which can start from an earlier search's results (warm start)."""

from __future__ import annotations

from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

RAY_TRIAL_ID = "ray_trial_id"  # an Optuna trial's user attribute: the Tune trial it is (read by result.optuna_numbers)
WARM_START_FROM = "warm_start_from"  # a warm-start trial's user attribute: the run and trial it comes from


class TaggedOptunaSearch(OptunaSearch):
    """Each Optuna trial records its Tune trial's id, so that trials.parquet gives every trial its
    Optuna trial's number, also after a resume or a warm start (when Tune's and Optuna's counters part).

    `warm_start`: (params, value, origin) of an earlier search's trials, added to the new study as
    finished trials before the first suggestion, so TPE starts from what worked before.
    """

    def __init__(self, *args: Any, warm_start: tuple[tuple[dict, float, str], ...] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._warm_start = tuple(warm_start)

    def _setup_study(self, mode):
        super()._setup_study(mode)
        for params, value, origin in self._warm_start:  # called once: a resume restores the study instead
            self._ot_study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, value=value, params=params,
                distributions={k: self._space[k] for k in params}, user_attrs={WARM_START_FROM: origin}))

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        if trial_id in self._ot_trials:
            self._ot_trials[trial_id].set_user_attr(RAY_TRIAL_ID, trial_id)
        return config
