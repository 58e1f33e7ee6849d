"""The search's Optuna searcher: Ray's OptunaSearch, whose Optuna trials name their Tune trials and
which can start from an earlier search's results (warm start); and, for several objectives or
constraints, the same searcher told each trial's objectives and constraints (`ObjectivesSearch`).

What Ray 2.60's OptunaSearch does on its own with several objectives, and what `ObjectivesSearch` adds:
- With a metric list it ignores intermediate results (Optuna has no pruning for multi-objective
  studies) and, when a trial ends, tells the study the metrics of the *last* result it saw. A trial
  stopped by ASHA ends with its last report too, so it reaches the study COMPLETE, not lost. Here the
  study is told the figures of the model the trial keeps (the report whose epoch is `kept_epoch`,
  see faceauth.search.measure), which is the model best/ or pareto/ would ship.
- A metric missing from the result makes OptunaSearch tell the study None (a PRUNED trial); every
  report here carries the cost metrics, so only a trial that never reported is lost that way.
- Constraints: Optuna 5.0 deprecates the samplers' `constraints_func` for
  `Trial.set_constraint(key, value)`; each constraint's violation (<= 0: met) is set on the trial just
  before it is told, and TPESampler then favours the feasible region.
"""

from __future__ import annotations

from typing import Any, Sequence

import optuna
from ray.tune.search.optuna import OptunaSearch

from faceauth.fit import Objective
from faceauth.search.objectives import Constraint

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


class ObjectivesSearch(TaggedOptunaSearch):
    """Several objectives (a list of metrics and modes) or constraints: see this module's docstring."""

    def __init__(self, objectives: Sequence[Objective], constraints: Sequence[Constraint], **kwargs: Any) -> None:
        if len(objectives) > 1:
            metric, mode = [o.metric for o in objectives], [o.mode for o in objectives]
        else:
            metric, mode = objectives[0].metric, objectives[0].mode
        super().__init__(metric=metric, mode=mode, **kwargs)
        self._constraints = tuple(constraints)
        self._kept_results: dict[str, dict[str, Any]] = {}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if result.get("kept_epoch") is not None and result.get("kept_epoch") == result.get("epoch"):
            self._kept_results[trial_id] = dict(result)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and trial_id in self._ot_trials and trial_id not in self._completed_trials:
            kept = self._kept_results.pop(trial_id, None)
            if kept is not None and kept.get("epoch") == result.get("kept_epoch"):
                result = {**result, **kept}
            for constraint in self._constraints:
                self._ot_trials[trial_id].set_constraint(str(constraint), constraint.violation(result))
        super().on_trial_complete(trial_id, result, error)
