"""The search's Optuna searcher: Ray's OptunaSearch, whose Optuna trials name their Tune trials and
which can start from an earlier search's results (warm start); and, for several objectives or
constraints, the same searcher told each trial's objectives and constraints (`ObjectivesSearch`).

What Ray 2.60's OptunaSearch does on its own, and what these searchers add:
- When a trial ends it tells the study the metrics of the *last* result it saw (with a metric list
  it also ignores intermediate results: Optuna has no pruning for multi-objective studies). A trial
  stopped by ASHA ends with its last report too, so it reaches the study COMPLETE, not lost. Here the
  study is told the figures of the model the trial keeps (the report whose epoch is `kept_epoch`,
  see faceauth.tuning.measure), which is the model best/ or pareto/ would ship.
- A metric missing from the result makes OptunaSearch tell the study None (a PRUNED trial); every
  report here carries the cost metrics, so only a trial that never reported is lost that way.
- A trial that fails is told with no result (a FAIL). Here, where it kept a model before it failed,
  the study is told that model's figures: best/ may ship it, so the study must know its value.
- The study records its metric names and, on each trial, its faceauth name, folder and status
  (faceauth.tuning.study_notes), so optuna-dashboard reads as the rest of the search does.
- Constraints: Optuna 5.0 deprecates the samplers' `constraints_func` for
  `Trial.set_constraint(key, value)`; each constraint's violation (<= 0: met) is set on the trial just
  before it is told, and TPESampler then favours the feasible region.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Sequence

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from faceauth.training.fit import Objective
from faceauth.tuning.objectives import Constraint
from faceauth.tuning.result import EXHAUSTED, SAME_AS
from faceauth.tuning.space import SampleActive, SearchSpace
from faceauth.tuning.study_notes import RAY_TRIAL_ID, REPEAT, STATUS, TRIAL_NAME
from faceauth.tuning.trial_reports import KeptReports, ending_status

WARM_START_FROM = "warm_start_from"  # a warm-start trial's user attribute: the run and trial it comes from
# Suggestions in a row that repeat evaluated configurations before the space counts as exhausted.
MAX_REPEATS = 200

log = logging.getLogger("faceauth")


class TaggedOptunaSearch(OptunaSearch):
    """Optuna's TPE over the search space's active parameters (define-by-run: a parameter whose `when`
    does not hold is never sampled), with three additions:

    - Each Optuna trial records its Tune trial's id, so that trials.parquet gives every trial its
      Optuna trial's number, also after a resume or a warm start (when Tune's and Optuna's counters part).
    - No configuration is trained twice: a suggestion whose active values match a configuration this
      search already evaluated (or is evaluating) is answered from the study with that trial's outcome
      (at once, or when that trial ends) and the sampler is asked again. Every trial of the same search
      trains with the same seed and data, so the answer is what training would give. A Tune trial is
      therefore always a new configuration; after MAX_REPEATS repeats in a row the space counts as
      exhausted and the search ends (the study records it).
    - `warm_start`: (params, value, origin) of an earlier search's trials, added to the new study as
      finished trials before the first suggestion, so TPE starts from what worked before. They are not
      counted as evaluated here: the earlier search may have had other data.
    """

    def __init__(self, search_space: SearchSpace, *args: Any, warm_start: tuple[tuple[dict, float, str], ...] = (),
                 **kwargs: Any):
        self._search_space = search_space
        self._warm_start = tuple(warm_start)
        self._evaluated: dict[str, str] = {}  # configuration key -> the Tune trial that trains it
        self._waiting: dict[str, list[optuna.trial.Trial]] = {}  # Tune trial -> repeats to answer when it ends
        self._kept = KeptReports()
        self._names: dict[str, str] = {}  # Tune trial -> its name, once the study has it
        super().__init__(*args, space=SampleActive(search_space), **kwargs)

    def _setup_study(self, mode):
        super()._setup_study(mode)
        # optuna-dashboard then shows "tar_at_far_1e-3", not "Objective 0"; stored in the study's file.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._ot_study.set_metric_names([self._metric] if isinstance(self._metric, str) else list(self._metric))
        distributions = self._search_space.optuna_distributions()
        for params, value, origin in self._warm_start:  # called once: a resume restores the study instead
            self._ot_study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, value=value, params=params,
                distributions={k: distributions[k] for k in params}, user_attrs={WARM_START_FROM: origin}))

    def suggest(self, trial_id: str):
        for _ in range(MAX_REPEATS):
            config = super().suggest(trial_id)
            key = self._search_space.config_key(config)
            earlier = self._evaluated.get(key)
            if earlier is None:
                self._evaluated[key] = trial_id
                self._ot_trials[trial_id].set_user_attr(RAY_TRIAL_ID, trial_id)
                return config
            self._answer(self._ot_trials.pop(trial_id), earlier)
        self._ot_study.set_user_attr(EXHAUSTED, len(self._evaluated))
        log.info(f"the search space has no configuration left that was not evaluated ({MAX_REPEATS} suggestions in a "
                 f"row repeated one of the {len(self._evaluated)} evaluated): the search ends here")
        return Searcher.FINISHED

    def _answer(self, repeat: optuna.trial.Trial, earlier: str) -> None:
        """Tell the study a repeated configuration's outcome: the earlier trial's, now or once it ends."""
        repeat.set_user_attr(STATUS, REPEAT)
        if earlier in self._completed_trials:
            self._tell_like(repeat, earlier)
        else:  # named now too, for a reader of the study meanwhile; again when told
            repeat.set_user_attr(SAME_AS, self._name_of(earlier))
            self._waiting.setdefault(earlier, []).append(repeat)

    def _name_of(self, trial_id: str, trials: Sequence[optuna.trial.FrozenTrial] | None = None) -> str:
        """The Tune trial's name (`fusion_0003`), as the study records it once that trial has started
        (faceauth.tuning.study_notes); its Ray id before then. Read from the study (or `trials`, its
        trials as already read) until found, then kept: a space nearly exhausted answers hundreds of
        repeats in a row."""
        if trial_id not in self._names:
            for trial in trials if trials is not None else self._ot_study.get_trials(deepcopy=False):
                if trial.user_attrs.get(RAY_TRIAL_ID) == trial_id and TRIAL_NAME in trial.user_attrs:
                    self._names[trial_id] = trial.user_attrs[TRIAL_NAME]
        return self._names.get(trial_id, trial_id)

    def _tell_like(self, repeat: optuna.trial.Trial, earlier: str) -> None:
        trials = self._ot_study.get_trials(deepcopy=False)  # read once, not copied: only read here
        repeat.set_user_attr(SAME_AS, self._name_of(earlier, trials))  # the trial has started by now: its name
        original = self._ot_trials.get(earlier)
        frozen = trials[original.number] if original is not None else None
        if frozen is None or frozen.state != optuna.trial.TrialState.COMPLETE:
            state = frozen.state if frozen is not None and frozen.state.is_finished() else optuna.trial.TrialState.FAIL
            self._ot_study.tell(repeat, state=state)
        else:
            self._ot_study.tell(repeat, frozen.values if len(frozen.values) > 1 else frozen.value)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        # A search started by an earlier faceauth, resumed by this one: its searcher gathered no
        # KeptReports (its trials then running report from their checkpoints again when resumed).
        if not hasattr(self, "_kept"):
            self._kept = KeptReports()
        if not hasattr(self, "_names"):
            self._names = {}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._kept.see(trial_id, result)
        if isinstance(self._metric, list) or trial_id in self._completed_trials or "epoch" not in result:
            super().on_trial_result(trial_id, result)
            return
        # The study's steps are the trial's epochs (0: the closed-form start), as the report, the progress
        # lines and TensorBoard number them; Tune's own step is its report count, one more.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an epoch reported again by a trial retried from a checkpoint
            self._ot_trials[trial_id].report(result[self._metric], int(result["epoch"]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """The study is told the figures of the model the trial keeps (the report of its `kept_epoch`),
        the model best/ would ship, not its last epoch's; a failed trial, told with no result by Tune,
        is told the model it kept, if any. Its status goes on its Optuna trial first."""
        if trial_id in self._ot_trials and trial_id not in self._completed_trials:
            self._ot_trials[trial_id].set_user_attr(STATUS, ending_status(result, error))
        kept = self._kept.pop(trial_id, result or None)
        if kept is not None:
            result = {**(result or {}), **kept}
        self._before_tell(trial_id, result)
        super().on_trial_complete(trial_id, result, error)
        for repeat in self._waiting.pop(trial_id, []):
            self._tell_like(repeat, trial_id)

    def _before_tell(self, trial_id: str, result: dict | None) -> None:
        """A hook for what the study must hold before the trial is told (constraints)."""


class ObjectivesSearch(TaggedOptunaSearch):
    """Several objectives (a list of metrics and modes) or constraints: see this module's docstring."""

    def __init__(self, search_space: SearchSpace, objectives: Sequence[Objective], constraints: Sequence[Constraint],
                 **kwargs: Any) -> None:
        if len(objectives) > 1:
            metric, mode = [o.metric for o in objectives], [o.mode for o in objectives]
        else:
            metric, mode = objectives[0].metric, objectives[0].mode
        super().__init__(search_space, metric=metric, mode=mode, **kwargs)
        self._constraints = tuple(constraints)

    def _before_tell(self, trial_id: str, result: dict | None) -> None:
        if result and trial_id in self._ot_trials and trial_id not in self._completed_trials:
            for constraint in self._constraints:
                self._ot_trials[trial_id].set_constraint(str(constraint), constraint.violation(result))
