"""Metrics against brute-force threshold sweeps and hand-made cases."""

import numpy as np
import pytest

from faceauth.evaluation.metrics import equal_error_rate, pad_metrics, pad_threshold, roc_curve, verification_metrics


def brute_force(genuine, impostor):
    """Every candidate threshold, one at a time, with loops: accept when score >= t."""
    thresholds = sorted(set(genuine) | set(impostor) | {np.inf}, reverse=True)
    far = [sum(s >= t for s in impostor) / len(impostor) for t in thresholds]
    tar = [sum(s >= t for s in genuine) / len(genuine) for t in thresholds]
    frr = [1 - x for x in tar]
    # EER: first threshold where FRR <= FAR, interpolated with the one before it.
    i = next(k for k in range(len(thresholds)) if frr[k] - far[k] <= 0)
    g0, g1 = frr[i - 1] - far[i - 1], frr[i] - far[i]
    eer = far[i] if g1 == 0 else far[i - 1] + g0 / (g0 - g1) * (far[i] - far[i - 1])
    auc = sum((g > s) + 0.5 * (g == s) for g in genuine for s in impostor) / (len(genuine) * len(impostor))
    balanced = [0.5 * (tar[k] + 1 - far[k]) for k in range(1, len(thresholds))]
    return {
        "eer": eer,
        "roc_auc": auc,
        "tar_at_far_1e-2": max(tar[k] for k in range(len(thresholds)) if far[k] <= 1e-2),
        "tar_at_far_1e-3": max(tar[k] for k in range(len(thresholds)) if far[k] <= 1e-3),
        "accuracy": max(balanced),
    }


@pytest.mark.parametrize("seed", range(5))
def test_verification_metrics_match_brute_force_on_random_scores_with_ties(seed):
    rng = np.random.default_rng(seed)
    # Rounded scores so that ties between and within classes occur.
    genuine = np.round(rng.normal(0.6, 0.2, 60), 1)
    impostor = np.round(rng.normal(0.2, 0.2, 1500), 1)
    got, want = verification_metrics(genuine, impostor), brute_force(list(genuine), list(impostor))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_perfect_separation():
    m = verification_metrics(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert m["eer"] == 0 and m["roc_auc"] == 1 and m["accuracy"] == 1
    assert m["tar_at_far_1e-3"] == 1 and 0.4 < m["threshold"] <= 0.7


def test_total_overlap():
    same = np.full(50, 0.5)
    m = verification_metrics(same, same)
    assert m["eer"] == pytest.approx(0.5) and m["roc_auc"] == pytest.approx(0.5)
    assert m["tar_at_far_1e-2"] == 0 and m["accuracy"] == pytest.approx(0.5)


def test_ties_across_classes_count_half_in_auc():
    m = verification_metrics(np.array([1.0, 0.5]), np.array([0.5, 0.0]))
    # pairs: (1>.5) (1>0) (.5=.5 -> 1/2) (.5>0) -> 3.5 / 4
    assert m["roc_auc"] == pytest.approx(3.5 / 4)


def test_reversed_scores_are_worst_case():
    m = verification_metrics(np.array([0.1, 0.2]), np.array([0.8, 0.9]))
    assert m["roc_auc"] == 0 and m["eer"] == 1 and m["tar_at_far_1e-2"] == 0


def test_empty_or_nan_scores_raise():
    with pytest.raises(ValueError, match="no positive scores"):
        verification_metrics(np.array([]), np.array([0.1]))
    with pytest.raises(ValueError, match="NaN"):
        verification_metrics(np.array([np.nan]), np.array([0.1]))


def test_pad_metrics_hand_made():
    # Attack scores (higher = more likely spoof) and bona fide scores.
    attack = np.array([0.9, 0.8, 0.7, 0.3])
    bonafide = np.array([0.1, 0.2, 0.6, 0.4])
    m = pad_metrics(attack, bonafide, threshold=0.5, attack_types=np.array(["print", "print", "replay", "replay"]))
    assert m["apcer"] == pytest.approx(0.25)  # 0.3 < 0.5 passes as bona fide
    assert m["bpcer"] == pytest.approx(0.25)  # 0.6 >= 0.5 is rejected
    assert m["acer"] == pytest.approx(0.25)
    assert m["apcer_print"] == 0 and m["apcer_replay"] == 0.5 and m["apcer_worst"] == 0.5
    assert m["roc_auc"] == pytest.approx(14 / 16)
    # BPCER at APCER <= 1%: every attack must be caught, so the threshold drops to 0.3 -> BPCER 2/4.
    assert m["bpcer_at_apcer_1pct"] == pytest.approx(0.5)


def test_pad_threshold_from_validation_is_applied_to_test():
    val_attack, val_bona = np.array([0.8, 0.9]), np.array([0.1, 0.2])
    threshold = pad_threshold(val_attack, val_bona)
    assert 0.2 <= threshold <= 0.8
    test = pad_metrics(np.array([0.85, 0.15]), np.array([0.05, 0.95]), threshold=threshold)
    assert test["apcer"] == 0.5 and test["bpcer"] == 0.5


def test_eer_threshold_is_interpolated_from_the_stricter_neighbour():
    # Thresholds inf .9 .8 .7 .3 .2; FRR-FAR gap 1, 2/3, 1/3, -1/6, ...: it crosses 0 two thirds of the
    # way from 0.8 (gap 1/3, FAR 0) to 0.7 (gap -1/6, FAR 1/2): EER 1/3 at 0.8 - 2/3 * 0.1.
    eer, threshold = equal_error_rate(roc_curve([0.9, 0.8, 0.3], [0.7, 0.2]))
    assert eer == pytest.approx(1 / 3) and threshold == pytest.approx(0.8 - 0.2 / 3)
