"""What the search added over its defaults: the best trial against the defaults trial on the same test
items, with the verdict's bootstrap interval; and which trial the defaults are."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective
from faceauth.evaluation.metrics import pad_metrics
from faceauth.tuning.over_defaults import compare, defaults_record, search_gain
from faceauth.tuning.space import load_search_space
from faceauth.tasks import get_task
from faceauth.evaluation.verdict import bootstrap_differences


def pad_evaluation(attack, bonafide, groups):
    return Evaluation({"model": pad_metrics(attack, bonafide)}, {"model": (attack, bonafide)},
                      {"bootstrap_unit": "videos", "bootstrap_units": int(np.unique(np.concatenate(groups)).size)}, groups)


def scores(separation, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(separation, 1.0, 60), rng.normal(0.0, 1.0, 60)


GROUPS = (np.arange(60), np.arange(60, 120))


def test_a_clearly_better_model_is_better_and_its_interval_is_the_bootstrap_percentiles():
    best = pad_evaluation(*scores(4.0, 1), GROUPS)
    defaults = pad_evaluation(*scores(0.5, 1), GROUPS)
    entry = compare(best, defaults, Objective("eer", "min"), "x_0007", "x_0000", resamples=300, seed=3)
    assert entry["outcome"] == "better" and entry["difference"] < 0
    joint = Evaluation({"b": best.model_metrics, "d": defaults.model_metrics},
                       {"b": best.scores["model"], "d": defaults.scores["model"]}, {}, GROUPS)
    difference, samples = bootstrap_differences(joint, "eer", 300, 3)["d"]
    assert entry["difference"] == pytest.approx(difference)
    assert entry["ci95"] == pytest.approx(list(np.quantile(samples, [0.025, 0.975])))
    assert entry["summary"].startswith("The search improved eer over its defaults: best trial x_0007")
    assert "bootstrap over 120 videos" in entry["summary"]


def test_the_same_scores_are_no_clear_difference_and_a_worse_pick_is_said_first():
    same = pad_evaluation(*scores(1.0, 2), GROUPS)
    entry = compare(same, same, Objective("eer", "min"), "x_0003", "x_0000", resamples=200)
    assert entry["outcome"] == "no clear difference" and entry["difference"] == 0
    assert entry["summary"].startswith("The search found nothing clearly better than its defaults")
    worse = compare(pad_evaluation(*scores(0.3, 4), GROUPS), pad_evaluation(*scores(4.0, 4), GROUPS),
                    Objective("eer", "min"), "x_0003", "x_0000", resamples=200)
    assert worse["outcome"] == "worse" and worse["summary"].startswith("WARNING: the search's pick does worse")


def test_models_scored_on_different_items_are_refused():
    a = pad_evaluation(*scores(1.0, 2), GROUPS)
    b = pad_evaluation(np.ones(10), np.zeros(10), (np.arange(10), np.arange(10, 20)))
    with pytest.raises(ValueError, match="same test items"):
        compare(a, b, Objective("eer", "min"), "a", "b")


def record(name, number, hyperparameters, checkpoint=True, status="completed"):
    return SimpleNamespace(name=name, number=number, hyperparameters=hyperparameters, status=status,
                           checkpoint=object() if checkpoint else None)


def test_the_defaults_trial_is_found_by_its_active_values(tmp_path):
    task = get_task("fusion")
    space = load_search_space("search_spaces/fusion.yaml", task.config_cls, task.metric_names)
    defaults = space.decode(space.defaults())
    records = [record("f_0001", 1, {"fusion_kind": "score_average"}), record("f_0000", 0, dict(defaults)),
               record("f_0002", 2, {**defaults, "lr": 0.005})]
    assert defaults_record(records, space).name == "f_0000"
    # A protocol search: fold by fold, each fold's models on that fold's test side.
    folds = {"a": pad_evaluation(*scores(4.0, 5), GROUPS), "b": pad_evaluation(*scores(1.0, 6), GROUPS)}
    theirs = {"a": pad_evaluation(*scores(0.5, 5), GROUPS), "b": folds["b"]}
    pad_space = dataclasses.replace(space, metric="eer", mode="min")
    gain = search_gain(records, records[2], folds, pad_space, 3, lambda r: theirs if r is records[1] else pytest.fail(r.name))
    assert {n: f["outcome"] for n, f in gain["folds"].items()} == {"a": "better", "b": "no clear difference"}
    assert gain["summary"].startswith("Over its defaults, per fold: better on 1 of 2 folds.")
    same = search_gain(records, records[1], {"": None}, space, 3, lambda r: pytest.fail("nothing to evaluate"))
    assert same["outcome"] == "defaults are best"
    assert "found nothing better than its defaults: the defaults trial f_0000 is the best of 3" in same["summary"]
    lost = [record("f_0000", 0, dict(defaults), checkpoint=False, status="failed"), records[0]]
    gone = search_gain(lost, records[0], {"": None}, space, 2, lambda r: pytest.fail("nothing to evaluate"))
    assert gone["outcome"] == "not compared" and "f_0000 ended failed without a model" in gone["summary"]
