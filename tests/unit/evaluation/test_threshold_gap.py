"""A threshold chosen on validation scores lies inside the gap below the lowest score it accepts (in the
middle, in the logit for probabilities), keeps every validation rate, and comes with a warning when
the validation split holds few samples of a class (faceauth.evaluation.metrics.centre_in_gap, pad_threshold,
faceauth.evaluation.operating_point.choose_threshold)."""

import numpy as np
import pytest

from faceauth.evaluation.result import Evaluation
from faceauth.evaluation.metrics import (MIN_THRESHOLD_SAMPLES, equal_error_rate, pad_metrics, pad_threshold, roc_curve,
                              verification_metrics)
from faceauth.evaluation.operating_point import apply_to_deployment, choose_threshold, operating_point, rates
from faceauth.tuning.report import operating_point_lines
from faceauth.tasks import get_task


def logit(p):
    return np.log(p / (1 - p))


def logit_midpoint(low, high):
    return float(1 / (1 + np.exp(-(logit(low) + logit(high)) / 2)))


# Separated validation scores, asymmetric around 0.5: the logit midpoint of 0.2 and 0.9 is 0.6
# (logits -1.386 and 2.197 average to 0.405), the plain midpoint 0.55.
VAL_ATTACK = np.array([0.9, 0.93, 0.97, 0.99])
VAL_BONA_FIDE = np.array([0.05, 0.1, 0.2])


# ---------------------------------------------------------------------------------------------- PAD default

def test_pad_threshold_on_separated_validation_is_the_logit_midpoint_of_the_gap():
    threshold = pad_threshold(VAL_ATTACK, VAL_BONA_FIDE)
    assert threshold == pytest.approx(0.6) and threshold == pytest.approx(logit_midpoint(0.2, 0.9))
    assert 0.2 < threshold < 0.9  # strictly inside the gap, not at the lowest attack score
    # The raw EER threshold is the edge (the lowest attack score); the rates there and at the midpoint agree.
    assert equal_error_rate(roc_curve(VAL_ATTACK, VAL_BONA_FIDE))[1] == 0.9
    at_edge, centred = pad_metrics(VAL_ATTACK, VAL_BONA_FIDE, 0.9), pad_metrics(VAL_ATTACK, VAL_BONA_FIDE, threshold)
    assert (centred["apcer"], centred["bpcer"]) == (at_edge["apcer"], at_edge["bpcer"]) == (0.0, 0.0)


def test_pad_metrics_without_a_threshold_choose_the_same_one():
    assert pad_metrics(VAL_ATTACK, VAL_BONA_FIDE)["threshold"] == pad_threshold(VAL_ATTACK, VAL_BONA_FIDE)


def test_test_data_just_beyond_the_validation_edge_is_classified_correctly():
    threshold = pad_threshold(VAL_ATTACK, VAL_BONA_FIDE)
    # An attack a little below the lowest validation attack, a bona fide a little above the highest
    # validation bona fide: at the edge threshold (0.9) the attack would pass as bona fide.
    test_attack, test_bona_fide = np.array([0.85, 0.95]), np.array([0.25, 0.1])
    m = pad_metrics(test_attack, test_bona_fide, threshold)
    assert m["apcer"] == 0 and m["bpcer"] == 0
    assert pad_metrics(test_attack, test_bona_fide, 0.9)["apcer"] == 0.5  # what the edge threshold did


def test_separated_validation_with_ties_at_the_edges():
    attack, bona_fide = np.array([0.9, 0.9, 0.9, 0.99]), np.array([0.2, 0.2, 0.1])
    assert pad_threshold(attack, bona_fide) == pytest.approx(logit_midpoint(0.2, 0.9))
    # Every score tied within its class.
    assert pad_threshold(np.full(5, 0.9), np.full(5, 0.2)) == pytest.approx(logit_midpoint(0.2, 0.9))


def test_saturated_probabilities_fall_back_to_the_plain_midpoint():
    """float32 sigmoids saturate at exactly 0 and 1, where the logit is infinite."""
    assert pad_threshold(np.ones(4), np.zeros(4)) == 0.5
    assert pad_threshold(np.array([1.0, 1.0, 0.8]), np.array([0.0, 0.2])) == pytest.approx(logit_midpoint(0.2, 0.8))
    threshold = pad_threshold(np.array([1.0, 1.0]), np.array([0.0, 0.3]))
    assert threshold == pytest.approx(0.65) and 0.3 < threshold < 1.0


def test_unbounded_scores_use_the_plain_midpoint():
    """Baselines score with logistic-regression logits: no logit of a logit."""
    assert pad_threshold(np.array([2.0, 3.5]), np.array([-1.0, 0.5])) == pytest.approx(1.25)


def test_an_interpolated_eer_threshold_is_left_where_it_is():
    """Overlapping classes: the EER threshold already lies strictly between two scores."""
    attack, bona_fide = np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2])
    assert pad_threshold(attack, bona_fide) == pytest.approx(equal_error_rate(roc_curve(attack, bona_fide))[1])
    assert pad_threshold(attack, bona_fide) == pytest.approx(0.8 - 0.2 / 3)


def test_a_tie_across_the_classes_at_the_top_gives_an_edge_then_a_midpoint():
    """The EER is reached at the top score, shared by an attack and a bona fide sample: the threshold
    moves down to the middle of the gap to the next score, with the same decisions."""
    attack, bona_fide = np.array([0.5]), np.array([0.5, 0.1])
    assert equal_error_rate(roc_curve(attack, bona_fide))[1] == 0.5
    threshold = pad_threshold(attack, bona_fide)
    assert threshold == pytest.approx(logit_midpoint(0.1, 0.5)) and 0.1 < threshold < 0.5


@pytest.mark.parametrize("seed", range(20))
def test_the_centred_threshold_keeps_every_validation_decision(seed):
    """On scores with ties within and across classes, separated or not, the threshold moved into the
    gap classifies every validation score as the raw EER threshold does."""
    rng = np.random.default_rng(seed)
    separation = rng.choice([0.0, 0.3, 2.0])
    attack = np.round(1 / (1 + np.exp(-rng.normal(separation, 1, rng.integers(3, 30)))), int(rng.integers(1, 4)))
    bona_fide = np.round(1 / (1 + np.exp(-rng.normal(-separation, 1, rng.integers(3, 30)))), int(rng.integers(1, 4)))
    raw = equal_error_rate(roc_curve(attack, bona_fide))[1]
    threshold = pad_threshold(attack, bona_fide)
    scores = np.concatenate([attack, bona_fide])
    assert np.array_equal(scores >= threshold, scores >= raw)
    if threshold != raw:  # moved: strictly inside the gap below the raw threshold, at its logit midpoint
        below = scores[scores < raw].max()
        assert below < threshold < raw and (np.isin(below, (0, 1)) or np.isin(raw, (0, 1))
                                             or threshold == pytest.approx(logit_midpoint(below, raw)))


# ---------------------------------------------------------------------------------------------- fusion

def test_fusion_threshold_is_the_plain_midpoint_of_the_gap():
    """verification_metrics' threshold (the best balanced accuracy, which the fusion task reports for
    the validation identities) sits in the middle of the gap in cosine units."""
    genuine, impostor = np.array([0.9, 0.95, 0.99]), np.array([0.05, 0.2, 0.1, -0.3])
    m = verification_metrics(genuine, impostor)
    assert m["accuracy"] == 1.0 and m["threshold"] == pytest.approx(0.55)
    assert rates(np.array([0.85]), np.array([0.25]), m["threshold"]) == (0.0, 0.0)  # just beyond the edges


# ---------------------------------------------------------------------------------------------- target FAR / APCER

def test_target_far_on_separated_validation_is_the_plain_midpoint_of_the_gap():
    genuine, impostor = np.array([0.9, 0.95, 0.99]), np.array([0.05, 0.2, 0.1, -0.3])
    threshold = choose_threshold(genuine, impostor, "far", 0.01)
    assert threshold == pytest.approx(0.55) and 0.2 < threshold < 0.9  # cosine scores: not the logit midpoint 0.6
    assert rates(genuine, impostor, threshold) == (0.0, 0.0)
    # Test pairs just beyond the validation edges fall on the right sides.
    assert rates(np.array([0.88, 0.6]), np.array([0.22, 0.5]), threshold) == (0.0, 0.0)


def test_target_apcer_on_separated_validation_is_the_logit_midpoint_of_the_gap():
    threshold = choose_threshold(VAL_ATTACK, VAL_BONA_FIDE, "apcer", 0.0)
    assert threshold == pytest.approx(0.6) and 0.2 < threshold < 0.9
    assert rates(VAL_ATTACK, VAL_BONA_FIDE, threshold) == (0.0, 0.0)
    bpcer, apcer = rates(np.array([0.85, 0.88]), np.array([0.25, 0.3]), threshold)
    assert apcer == 0 and bpcer == 0


def test_target_threshold_keeps_the_validation_rates_on_random_scores():
    rng = np.random.default_rng(3)
    positive, negative = np.round(rng.uniform(0.3, 1, 200), 2), np.round(rng.uniform(0, 0.7, 300), 2)
    for target, value in (("far", 0.01), ("far", 0.1), ("apcer", 0.05), ("apcer", 0.0)):
        threshold = choose_threshold(positive, negative, target, value)
        scores = np.concatenate([positive, negative])
        edge = scores[scores >= threshold].min()  # the score the rule starts from
        below = scores[scores < threshold].max()
        assert below < threshold < edge and rates(positive, negative, threshold) == rates(positive, negative, edge)
        expected = logit_midpoint(below, edge) if target == "apcer" else (below + edge) / 2
        assert threshold == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------- warnings

def test_pad_metrics_warn_when_the_threshold_is_chosen_on_few_samples():
    rng = np.random.default_rng(0)
    few = pad_metrics(rng.uniform(0.6, 1, MIN_THRESHOLD_SAMPLES - 1), rng.uniform(0, 0.4, 50))
    assert "threshold_warning" in few and "fewer than 20" in few["threshold_warning"]
    assert "19 attacks" in few["threshold_warning"]
    many = pad_metrics(rng.uniform(0.6, 1, MIN_THRESHOLD_SAMPLES), rng.uniform(0, 0.4, MIN_THRESHOLD_SAMPLES))
    assert "threshold_warning" not in many
    # A threshold given (from validation) is not chosen here: no warning on the test split.
    assert "threshold_warning" not in pad_metrics(rng.uniform(0.6, 1, 5), rng.uniform(0, 0.4, 5), 0.5)


def _evaluation(positive, negative):
    return Evaluation({"m": {}}, {"m": (positive, negative)})


def test_operating_point_warns_with_few_validation_samples_and_not_with_many():
    rng = np.random.default_rng(1)
    test = _evaluation(rng.normal(2, 1, 100), rng.normal(0, 1, 100))
    few = operating_point("apcer", 0.5, _evaluation(rng.normal(2, 1, 30), rng.normal(0, 1, 12)), test, resamples=50)
    assert "fewer than 20" in few["warning"] and "12 bona fide samples" in few["warning"]
    assert "decided by" not in few["warning"]  # 30 attacks x 50% = 15: the target itself is resolved
    assert any("fewer than 20" in line for line in operating_point_lines(few))
    many = operating_point("apcer", 0.05, _evaluation(rng.normal(2, 1, 400), rng.normal(0, 1, 400)), test, resamples=50)
    assert "warning" not in many
    # Both reasons at once: 10 impostor pairs decide nothing at FAR 1%, and 10 is fewer than 20.
    both = operating_point("far", 0.01, _evaluation(rng.normal(2, 1, 30), rng.normal(0, 1, 10)), test, resamples=50)
    assert "decided by" in both["warning"] and "fewer than 20" in both["warning"]
    assert all("WARNING" in line for line in operating_point_lines(both) if "fewer than 20" in line)


LIVENESS_ARGS = {"image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3}
TEMPORAL_ARGS = {"frame_extractor": "texture-v1-64px", "feature_dim": 76, "seq_len": 8, "frame_stride": 2}


@pytest.mark.parametrize("task, args", [("liveness", LIVENESS_ARGS), ("temporal", TEMPORAL_ARGS)])
def test_pad_deployment_carries_the_threshold_warning(task, args):
    rng = np.random.default_rng(2)
    small = pad_metrics(rng.uniform(0.6, 1, 19), rng.uniform(0, 0.4, 19))
    deployment = get_task(task).deployment_info({"model_args": args, "metrics": small})
    assert deployment["threshold_warning"] == small["threshold_warning"]
    assert deployment["threshold"] == small["threshold"]
    large = pad_metrics(rng.uniform(0.6, 1, 40), rng.uniform(0, 0.4, 40))
    assert "threshold_warning" not in get_task(task).deployment_info({"model_args": args, "metrics": large})
    # An operating point replaces the default threshold and its warning (it carries its own).
    replaced = apply_to_deployment(deployment, {"threshold": 0.7, "rule": "r; an attack when the score >= threshold"})
    assert "threshold_warning" not in replaced and replaced["threshold"] == 0.7
