"""The verdict: bootstrap intervals over the independent units (identities), weighted ROC curves."""

import numpy as np
import pytest

from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective
from faceauth.evaluation.metrics import SortedScores, roc_curve, verification_metrics
from faceauth.tasks.fusion.data import verification_pairs
from faceauth.evaluation.verdict import _weights, bootstrap_differences, build_verdict, clearly_better, weighted_metric


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


def _systems(model_mean, baseline_mean, seed=1):
    """Model and baseline with genuine scores ~N(mean, 1), impostor scores ~N(0, 1)."""
    groups, genuine = _pairs()
    rng = np.random.default_rng(seed)
    model = np.where(genuine, rng.normal(model_mean, 1, genuine.size), rng.normal(0, 1, genuine.size))
    baseline = np.where(genuine, rng.normal(baseline_mean, 1, genuine.size), rng.normal(0, 1, genuine.size))
    return _evaluation((model[genuine], model[~genuine]), (baseline[genuine], baseline[~genuine]),
                       groups[genuine], groups[~genuine])


def test_min_mode_interval_straddling_zero_is_no_clear_difference():
    groups, genuine = _pairs()
    rng = np.random.default_rng(2)
    scores = np.where(genuine, rng.normal(1.5, 1, genuine.size), rng.normal(0, 1, genuine.size))
    noisy = scores + rng.normal(0, 0.3, genuine.size)
    evaluation = _evaluation((scores[genuine], scores[~genuine]), (noisy[genuine], noisy[~genuine]),
                             groups[genuine], groups[~genuine])
    entry = build_verdict(evaluation, Objective("eer", "min"), resamples=200)["baselines"]["baseline"]
    assert entry["ci95"][0] < 0 < entry["ci95"][1]
    assert entry["outcome"] == "no clear difference"


def test_min_mode_lower_error_is_better_and_higher_error_is_worse():
    better = build_verdict(_systems(3.0, 1.0), Objective("eer", "min"), resamples=200)["baselines"]["baseline"]
    assert better["ci95"][1] < 0 and better["difference"] < 0  # the model's EER is lower
    assert better["beats"] and better["outcome"] == "better"
    worse = build_verdict(_systems(1.0, 3.0), Objective("eer", "min"), resamples=200)["baselines"]["baseline"]
    assert worse["ci95"][0] > 0 and not worse["beats"] and worse["outcome"] == "worse"


def test_clearly_better_on_a_min_metric_means_a_lower_value():
    assert clearly_better(_systems(3.0, 1.0), "eer", "min")
    assert not clearly_better(_systems(1.0, 3.0), "eer", "min")
    assert clearly_better(_systems(3.0, 1.0), "roc_auc", "max")


def test_a_genuine_pair_counts_its_identity_once_an_impostor_pair_both():
    pairs = np.array([[0, 0], [0, 1], [1, 1]])  # genuine, impostor, genuine
    assert _weights(pairs, np.array([2, 3])).tolist() == [2, 6, 3]
    assert _weights(np.array([1, 0, 1]), np.array([2, 3])).tolist() == [3, 2, 3]


def test_apcer_worst_is_the_highest_weighted_rate_over_attack_types():
    attack, bonafide = np.array([0.9, 0.8, 0.7, 0.3]), np.array([0.1, 0.6])
    types = np.array(["print", "print", "replay", "replay"])
    weights = np.array([1.0, 1.0, 1.0, 3.0])  # the missed replay (0.3 < 0.5) counts 3 times: replay 3/4
    args = (SortedScores(attack, bonafide), attack, bonafide, weights, None, 0.5, types)
    assert weighted_metric("apcer_print", *args) == 0.0
    assert weighted_metric("apcer_replay", *args) == pytest.approx(0.75)
    assert weighted_metric("apcer_worst", *args) == pytest.approx(0.75)


def test_each_number_follows_its_name_and_the_difference_says_better_or_worse():
    from faceauth.evaluation.verdict import summary_text

    entry = {"model": 0.5, "baseline": 0.0, "difference": 0.5, "ci95": [0.3, 0.7], "beats": False, "outcome": "worse"}
    verdict = {"metric": "eer", "mode": "min", "units": 12, "unit": "images", "baselines": {"lbp_logreg": entry}}
    text = summary_text(verdict)
    assert "model 0.5000 vs lbp_logreg 0.0000: 50.0 points worse" in text and "eer (lower is better)" in text
    verdict["baselines"]["lbp_logreg"] = {**entry, "model": 0.0, "baseline": 0.5, "difference": -0.5, "ci95": [-0.7, -0.3],
                                          "beats": True, "outcome": "better"}
    assert "model 0.0000 vs lbp_logreg 0.5000: 50.0 points better" in summary_text(verdict)


def test_hyperparameters_read_as_a_person_writes_them():
    from faceauth.io.formatting import format_hyperparameters

    text = format_hyperparameters({"lr": 0.006130894464763302, "dropout": 0.15000000000000002, "hidden_sizes": [512, 256],
                                   "loss": "triplet", "batch_size": 128})
    assert text == "lr 0.006131, dropout 0.15, hidden_sizes [512, 256], loss triplet, batch_size 128"
