"""Conditional search spaces (`when`) and the searcher that trains each configuration once: checked
at load time with errors naming the file and the key; sampled define-by-run; repeats answered."""

import optuna
import pytest
import yaml
from ray.tune.search import Searcher

from faceauth.io.errors import FaceauthError
from faceauth.tuning.result import EXHAUSTED, SAME_AS
from faceauth.tuning.searcher import MAX_REPEATS, TaggedOptunaSearch
from faceauth.tuning.space import SEARCH_SPACES_DIR, SampleActive, load_search_space
from faceauth.tasks import get_task

KIND = {"type": "categorical", "choices": ["score_average", "linear", "mlp"], "default": "mlp"}


def load(tmp_path, parameters, **extra):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"metric": "tar_at_far_1e-3", "mode": "max", "parameters": parameters, **extra}))
    task = get_task("fusion")
    return load_search_space(path, task.config_cls, task.metric_names)


def conditional(tmp_path, **extra):
    return load(tmp_path, {
        "lr": {"type": "log_float", "low": 1e-4, "high": 1e-2, "default": 1e-3, "when": {"fusion_kind": "mlp"}},
        "fusion_kind": KIND,
        "out_dim": {"type": "categorical", "choices": [128, 256], "default": 256, "when": {"fusion_kind": ["linear", "mlp"]}},
        "loss": {"type": "categorical", "choices": ["contrastive", "arcface"], "default": "contrastive",
                 "when": {"fusion_kind": "mlp"}},
        "margin": {"type": "float", "low": 0.1, "high": 0.5, "step": 0.1, "default": 0.3, "when": {"loss": "arcface"}},
    }, **extra)


@pytest.mark.parametrize("parameters,message", [
    ({"lr": {"type": "float", "low": 0.1, "high": 1, "when": {"fusion_kind": "mlp"}}},
     "'fusion_kind' is not a searched parameter"),
    ({"fusion_kind": KIND, "lr": {"type": "float", "low": 0.1, "high": 1, "when": {"fusion_kind": "deep"}}},
     "when fusion_kind must be one of 'score_average', 'linear', 'mlp', got 'deep'"),
    ({"out_dim": {"type": "categorical", "choices": [128, 256]},
      "lr": {"type": "float", "low": 0.1, "high": 1, "when": {"out_dim": [256, 512]}}},
     "out_dim = 512 is not one of its choices"),
    ({"fusion_kind": KIND, "dropout": {"type": "float", "low": 0, "high": 0.5},
      "lr": {"type": "float", "low": 0.1, "high": 1, "when": {"dropout": 0.1}}},
     "'dropout' is a float range; a condition needs a categorical parameter"),
    ({"fusion_kind": KIND, "lr": {"type": "float", "low": 0.1, "high": 1, "when": "mlp"}},
     "when must map a categorical parameter"),
    ({"fusion_kind": {**KIND, "when": {"loss": "arcface"}},
      "loss": {"type": "categorical", "choices": ["contrastive", "arcface"], "when": {"fusion_kind": "mlp"}}},
     r"form a cycle \((fusion_kind -> loss -> fusion_kind|loss -> fusion_kind -> loss)\)"),
    ({"fusion_kind": {**KIND, "when": {"fusion_kind": "mlp"}}}, "cannot depend on itself"),
])
def test_bad_conditions_name_file_and_parameter(tmp_path, parameters, message):
    with pytest.raises(FaceauthError, match=message) as err:
        load(tmp_path, parameters)
    assert "space.yaml" in str(err.value)


def test_also_evaluate_may_not_set_a_parameter_its_point_switches_off(tmp_path):
    with pytest.raises(FaceauthError, match=r"also_evaluate\[0\] sets 'lr', which is inactive there"):
        conditional(tmp_path, also_evaluate=[{"fusion_kind": "linear", "lr": 1e-3}])


def test_conditions_come_first_and_only_active_values_count(tmp_path):
    space = conditional(tmp_path, also_evaluate=[{"fusion_kind": "score_average"}, {"fusion_kind": "linear"},
                                                 {"fusion_kind": "mlp"}])
    names = list(space.parameters)
    assert names.index("fusion_kind") < names.index("lr") and names.index("loss") < names.index("margin")
    assert space.active({"fusion_kind": "linear", "out_dim": 128, "lr": 0.01, "loss": "arcface", "margin": 0.2, "seed": 3}) \
        == {"fusion_kind": "linear", "out_dim": 128, "seed": 3}
    assert space.active({"fusion_kind": "mlp", "lr": 0.01, "loss": "contrastive", "margin": 0.2}) \
        == {"fusion_kind": "mlp", "lr": 0.01, "loss": "contrastive"}
    # The defaults, then each also_evaluate point over them; {fusion_kind: mlp} is the defaults again: once.
    assert space.points_to_evaluate() == [
        {"fusion_kind": "mlp", "lr": 1e-3, "out_dim": 256, "loss": "contrastive"},
        {"fusion_kind": "score_average"}, {"fusion_kind": "linear", "out_dim": 256}]
    # Two linear suggestions that differ only in knobs linear does not read are one configuration.
    assert space.config_key({"fusion_kind": "linear", "out_dim": 128, "lr": 0.01}) == \
        space.config_key({"fusion_kind": "linear", "out_dim": 128, "lr": 0.002})
    assert space.config_key({"fusion_kind": "linear", "out_dim": 128}) != space.config_key({"fusion_kind": "linear", "out_dim": 256})


def test_define_by_run_samples_the_active_parameters_only(tmp_path):
    space = conditional(tmp_path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: SampleActive(space)(trial) or 0.0, n_trials=60)
    seen_kinds = set()
    for trial in study.trials:
        kind = trial.params["fusion_kind"]
        seen_kinds.add(kind)
        expected = {"fusion_kind"} | ({"out_dim"} if kind != "score_average" else set()) \
            | ({"lr", "loss"} if kind == "mlp" else set()) \
            | ({"margin"} if kind == "mlp" and trial.params.get("loss") == "arcface" else set())
        assert set(trial.params) == expected, trial.params
    assert seen_kinds == {"score_average", "linear", "mlp"}


def test_shipped_spaces_sample_the_trained_heads_knobs_only_under_their_kind():
    for task_name, kind, trained in (("fusion", "fusion_kind", "mlp"), ("temporal", "temporal_kind", "lstm")):
        task = get_task(task_name)
        space = load_search_space(SEARCH_SPACES_DIR / f"{task_name}.yaml", task.config_cls, task.metric_names)
        for name in ("lr", "weight_decay", "dropout", "batch_size", "augment_strength"):
            assert space.parameters[name].when == {kind: (trained,)}, (task_name, name)


def searcher(space, seed=0):
    return TaggedOptunaSearch(space, metric="tar_at_far_1e-3", mode="max",
                              sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3),
                              points_to_evaluate=space.points_to_evaluate())


def test_a_configuration_is_trained_once_and_repeats_are_answered_from_the_study(tmp_path):
    # A small space: score_average (1), linear x out_dim (2), mlp x out_dim x loss (4, margin aside).
    space = load(tmp_path, {
        "fusion_kind": KIND,
        "out_dim": {"type": "categorical", "choices": [128, 256], "when": {"fusion_kind": ["linear", "mlp"]}},
        "loss": {"type": "categorical", "choices": ["contrastive", "arcface"], "when": {"fusion_kind": "mlp"}},
    }, also_evaluate=[{"fusion_kind": "score_average"}])
    search = searcher(space)
    value = {"score_average": 0.5, "linear": 0.7, "mlp": 0.9}
    keys, trials = set(), 0
    while True:
        config = search.suggest(f"t{trials}")
        if config is Searcher.FINISHED:
            break
        key = space.config_key(config)
        assert key not in keys, f"trained twice: {config}"
        keys.add(key)
        search.on_trial_complete(f"t{trials}", {"tar_at_far_1e-3": value[config["fusion_kind"]] + 0.01 * len(keys)})
        trials += 1
        assert trials <= 7
    assert trials == 7  # every configuration of the space, each once, then the searcher says it is done
    study = search._ot_study
    assert study.user_attrs[EXHAUSTED] == 7
    answered = [t for t in study.trials if SAME_AS in t.user_attrs]
    assert answered and len(answered) >= MAX_REPEATS
    by_tune_trial = {t.user_attrs["ray_trial_id"]: t for t in study.trials if "ray_trial_id" in t.user_attrs}
    for t in answered:  # each repeat holds the value its configuration scored when it was trained
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.value == by_tune_trial[t.user_attrs[SAME_AS]].value


def test_a_repeat_of_a_running_configuration_is_answered_when_that_trial_ends(tmp_path):
    space = load(tmp_path, {"fusion_kind": {**KIND, "choices": ["score_average"], "default": "score_average"},
                            "loss": {"type": "categorical", "choices": ["contrastive", "arcface"]}})
    search = searcher(space)
    first, second = search.suggest("a"), search.suggest("b")
    assert space.config_key(first) != space.config_key(second)
    assert search.suggest("c") is Searcher.FINISHED  # both configurations are taken (still running)
    pending = [t for t in search._ot_study.trials if SAME_AS in t.user_attrs]
    assert pending and all(t.state == optuna.trial.TrialState.RUNNING for t in pending)
    search.on_trial_complete("a", {"tar_at_far_1e-3": 0.8})
    search.on_trial_complete("b", {"tar_at_far_1e-3": 0.6}, error=False)
    values = {"a": 0.8, "b": 0.6}
    for t in search._ot_study.trials:
        if SAME_AS in t.user_attrs:
            assert t.state == optuna.trial.TrialState.COMPLETE and t.value == values[t.user_attrs[SAME_AS]]


def test_a_repeat_names_the_trial_that_trained_its_configuration(tmp_path):
    space = load(tmp_path, {"fusion_kind": {**KIND, "choices": ["score_average"], "default": "score_average"}})
    search = searcher(space)
    search.suggest("a")
    named = next(t for t in search._ot_study.trials if t.user_attrs.get("ray_trial_id") == "a")
    search._ot_study._storage.set_trial_user_attr(named._trial_id, "trial_name", "fusion_0000")  # as StudyTrialNames does
    search.on_trial_complete("a", {"tar_at_far_1e-3": 0.8})
    assert search.suggest("b") is Searcher.FINISHED  # every suggestion repeats trial a
    repeats = [t for t in search._ot_study.trials if SAME_AS in t.user_attrs]
    assert repeats and {t.user_attrs[SAME_AS] for t in repeats} == {"fusion_0000"}


def test_the_study_is_told_the_kept_epoch_not_the_last(tmp_path):
    space = conditional(tmp_path)
    search = searcher(space)
    search.suggest("a")
    for epoch, value in enumerate([0.80, 0.90, 0.85]):
        search.on_trial_result("a", {"tar_at_far_1e-3": value, "epoch": epoch, "kept_epoch": 1 if epoch >= 1 else 0,
                                     "training_iteration": epoch + 1})
    search.on_trial_complete("a", {"tar_at_far_1e-3": 0.85, "epoch": 2, "kept_epoch": 1, "training_iteration": 3})
    assert search._ot_study.trials[0].value == 0.90
    # optuna-dashboard's steps are the epochs, 0 the closed-form start, as everywhere else
    assert search._ot_study.trials[0].intermediate_values == {0: 0.80, 1: 0.90, 2: 0.85}
