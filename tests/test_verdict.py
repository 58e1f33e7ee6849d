"""The verdict: bootstrap intervals over the independent units (identities), weighted ROC curves."""

import numpy as np

from faceauth.evaluation import Evaluation
from faceauth.fit import Objective
from faceauth.metrics import roc_curve, verification_metrics
from faceauth.tasks.fusion.data import verification_pairs
from faceauth.verdict import bootstrap_differences, build_verdict


def test_weighted_roc_counts_a_score_twice():
    once = roc_curve([0.9, 0.8, 0.2], [0.5, 0.1])
    twice = roc_curve([0.9, 0.8, 0.2, 0.2], [0.5, 0.1])
    weighted = roc_curve([0.9, 0.8, 0.2], [0.5, 0.1], positive_weights=[1, 1, 2])
    assert np.allclose(weighted.tpr, twice.tpr) and np.allclose(weighted.fpr, twice.fpr)
    assert not np.allclose(weighted.tpr, once.tpr)


def _evaluation(model_scores, baseline_scores, genuine_groups, impostor_groups):
    metrics = {name: verification_metrics(*s) for name, s in (("model", model_scores), ("baseline", baseline_scores))}
    return Evaluation(metrics, {"model": model_scores, "baseline": baseline_scores},
                      {"bootstrap_unit": "identities", "bootstrap_units": 40}, groups=(genuine_groups, impostor_groups))


def _pairs(identities=40, per_identity=3, seed=0):
    labels = np.repeat(np.arange(identities), per_identity)
    first, second, genuine = verification_pairs(labels, 10**9, seed)
    return np.stack([labels[first], labels[second]], 1), genuine


def test_verdict_identical_systems_show_no_difference():
    groups, genuine = _pairs()
    rng = np.random.default_rng(0)
    scores = np.where(genuine, rng.normal(1.5, 1, genuine.size), rng.normal(0, 1, genuine.size))
    split = (scores[genuine], scores[~genuine])
    verdict = build_verdict(_evaluation(split, split, groups[genuine], groups[~genuine]), Objective("tar_at_far_1e-2", "max"),
                            resamples=200)
    entry = verdict["baselines"]["baseline"]
    assert entry["difference"] == 0 and entry["ci95"] == [0, 0] and not entry["beats"]
    assert verdict["summary"].startswith("WARNING: the model does NOT beat baseline")


def test_verdict_interval_resamples_identities_and_names_a_worse_model_first():
    groups, genuine = _pairs()
    rng = np.random.default_rng(1)
    good = np.where(genuine, rng.normal(3.0, 1, genuine.size), rng.normal(0, 1, genuine.size))
    bad = np.where(genuine, rng.normal(1.0, 1, genuine.size), rng.normal(0, 1, genuine.size))
    evaluation = _evaluation((bad[genuine], bad[~genuine]), (good[genuine], good[~genuine]), groups[genuine], groups[~genuine])
    verdict = build_verdict(evaluation, Objective("tar_at_far_1e-2", "max"), advice="Try X.", resamples=300)
    entry = verdict["baselines"]["baseline"]
    assert entry["outcome"] == "worse" and entry["ci95"][1] < 0 < entry["baseline"] - entry["model"]
    assert verdict["summary"].startswith("WARNING") and "Try X." in verdict["summary"]
    # Over identities, the interval is wider than a bootstrap that treats each pair as independent.
    _, samples = bootstrap_differences(evaluation, "tar_at_far_1e-2", 300)["baseline"]
    pairs_as_units = Evaluation(evaluation.metrics, evaluation.scores, {},
                                groups=(np.arange(genuine.sum()), np.arange(genuine.sum(), genuine.size)))
    _, naive = bootstrap_differences(pairs_as_units, "tar_at_far_1e-2", 300)["baseline"]
    assert samples.std() > naive.std()
