"""The operating point (faceauth.evaluation.operating_point) on hand-made scores: the threshold meeting a
target FAR (loosest) or APCER (strictest), moved into the gap below it; the rates it gives; the
warnings where the validation split is too small to decide the target; the deployment section and
the ONNX metadata that carry it."""

import json
import math

import numpy as np
import pytest

from faceauth.evaluation.operating_point import apply_to_deployment, choose_threshold, onnx_metadata, operating_point, rates
from faceauth.evaluation.result import Evaluation

# Verification: 4 genuine pairs, 10 impostor pairs. From the top: 0.95 g, 0.90 i, 0.85 g, 0.75 g, 0.70 i, ...
GENUINE = np.array([0.95, 0.85, 0.75, 0.40])
IMPOSTOR = np.array([0.90, 0.70, 0.60, 0.50, 0.30, 0.20, 0.10, 0.05, 0.02, 0.01])
# PAD (attack is the positive class): 4 attacks, 4 bona fide. From the top: 0.99 a, 0.95 a, 0.9 a, 0.5 b, 0.2 a, 0.1 b, ...
ATTACKS = np.array([0.99, 0.95, 0.9, 0.2])
BONA_FIDE = np.array([0.5, 0.1, 0.05, 0.01])


def test_far_target_takes_the_loosest_threshold_and_the_plain_midpoint_below_it():
    # FAR <= 1/10 allows one impostor (0.90): the loosest such score is 0.75 (3 of 4 genuine); at 0.70 a
    # second impostor passes. Midway between 0.75 and 0.70, in the scores' own units: 0.725.
    threshold = choose_threshold(GENUINE, IMPOSTOR, "far", 0.1)
    assert threshold == pytest.approx(0.725)
    assert rates(GENUINE, IMPOSTOR, threshold) == pytest.approx((0.1, 0.25))
    # FAR 0: only 0.95 is above every impostor; midway to the impostor at 0.90.
    assert choose_threshold(GENUINE, IMPOSTOR, "far", 0.0) == pytest.approx(0.925)
    assert rates(GENUINE, IMPOSTOR, 0.925) == pytest.approx((0.0, 0.75))


def test_far_zero_when_an_impostor_scores_highest_accepts_nothing():
    threshold = choose_threshold(np.array([0.5]), np.array([0.8, 0.1]), "far", 0.0)
    assert threshold == np.nextafter(0.8, np.inf)  # just above the highest score seen
    assert rates(np.array([0.5]), np.array([0.8, 0.1]), threshold) == (0.0, 1.0)


def test_apcer_target_takes_the_strictest_threshold_and_the_logit_midpoint_below_it():
    # APCER <= 1/4 lets one attack through: the strictest such score is 0.9 (0.95 would miss two). The
    # next score down is bona fide 0.5; in the logit the middle of odds 9 and 1 is odds 3: 0.75 (the
    # plain midpoint would be 0.7).
    threshold = choose_threshold(ATTACKS, BONA_FIDE, "apcer", 0.25)
    assert threshold == pytest.approx(0.75)
    assert rates(ATTACKS, BONA_FIDE, threshold) == (0.0, 0.25)  # (BPCER, APCER)
    # Every attack caught: the lowest attack, 0.2 (odds 1/4), and the bona fide 0.1 below it (odds 1/9):
    # odds 1/6, so 1/7. The bona fide 0.5 is then rejected.
    caught = choose_threshold(ATTACKS, BONA_FIDE, "apcer", 0.0)
    assert caught == pytest.approx(1 / 7)
    assert rates(ATTACKS, BONA_FIDE, caught) == (0.25, 0.0)


def test_rates_count_a_score_at_the_threshold_as_accepted():
    positive, negative = np.array([0.6, 0.5, 0.4]), np.array([0.5, 0.2])
    assert rates(positive, negative, 0.5) == pytest.approx((0.5, 1 / 3))  # 0.5 is accepted in both classes
    assert rates(positive, negative, 0.0) == (1.0, 0.0) and rates(positive, negative, 1.0) == (0.0, 1.0)


def _val(positive, negative) -> Evaluation:
    return Evaluation({"model": {}}, {"model": (positive, negative)})


def test_the_operating_point_reports_the_validation_and_test_rates():
    test = Evaluation({"model": {}}, {"model": ([0.8, 0.7], [0.75, 0.1, 0.2, 0.3])})
    point = operating_point("far", 0.1, _val(GENUINE, IMPOSTOR), test, resamples=50)
    assert point["target"] == {"far": 0.1} and point["threshold"] == pytest.approx(0.725)
    assert point["validation"] == {"far": pytest.approx(0.1), "frr": 0.25, "positives": 4, "negatives": 10}
    # On the test scores 0.725 accepts the impostor 0.75 and misses the genuine 0.7.
    assert (point["test"]["far"], point["test"]["frr"]) == (0.25, 0.5)
    assert (point["test"]["positives"], point["test"]["negatives"]) == (2, 4)
    for low, high in point["test"]["ci95"].values():
        assert 0.0 <= low <= high <= 1.0
    assert point["test"]["bootstrap"].startswith("50 resamples of the test samples (no subject labels")
    assert point["rule"].startswith("the loosest threshold with validation FAR <= 0.1 (highest TAR)")
    assert point["rule"].endswith("; accept a pair when its score >= threshold")
    assert point["summary"].startswith("Operating point: threshold 0.725 chosen on the validation data for FAR <= 0.1; "
                                       "on the test data it gives FAR 0.25 (95% CI ")
    assert " and FRR 0.5 (95% CI " in point["summary"]


def test_an_apcer_point_names_its_rates_as_pad_does():
    point = operating_point("apcer", 0.25, _val(ATTACKS, BONA_FIDE), _val(ATTACKS, BONA_FIDE), resamples=20)
    assert point["target"] == {"apcer": 0.25} and point["threshold"] == pytest.approx(0.75)
    assert point["validation"] == {"apcer": 0.25, "bpcer": 0.0, "positives": 4, "negatives": 4}
    assert set(point["test"]["ci95"]) == {"apcer", "bpcer"}
    assert point["rule"].endswith("; an attack when the score >= threshold")
    assert "for APCER <= 0.25" in point["summary"] and " and BPCER 0 (95% CI " in point["summary"]


def test_a_small_validation_split_warns_for_both_reasons():
    point = operating_point("far", 0.1, _val(GENUINE, IMPOSTOR), _val(GENUINE, IMPOSTOR), resamples=20)
    decided, few = point["warning"].split("; the threshold was chosen on ")
    # 10 impostor pairs x FAR 0.1 = 1 impostor decides it; 10 are needed.
    assert decided.startswith("the validation split has 10 impostor pairs: far = 0.1 is decided by 1 of them "
                              "(at least 10 are needed to resolve it)")
    assert few.startswith("4 genuine pairs and 10 impostor pairs (fewer than 20 of a class)")


def test_enough_validation_samples_give_no_warning_and_one_short_gives_one():
    genuine, impostor = np.linspace(0.5, 1.0, 20), np.linspace(0.0, 0.6, 200)
    assert "warning" not in operating_point("far", 0.05, _val(genuine, impostor), _val(genuine, impostor), resamples=20)
    # 100 impostors at FAR 0.05: five decide it. 20 genuine pairs and 100 impostors are enough samples.
    short = operating_point("far", 0.05, _val(genuine, impostor[:100]), _val(genuine, impostor), resamples=20)
    assert short["warning"].startswith("the validation split has 100 impostor pairs: far = 0.05 is decided by 5 of them")
    assert "fewer than 20" not in short["warning"]
    # For APCER it is the attacks that are counted: 19 attacks x 0.6 = 11.4 decide it, but 19 is too few a sample.
    pad = operating_point("apcer", 0.6, _val(np.linspace(0.5, 1.0, 19), np.linspace(0.0, 0.4, 30)),
                          _val(ATTACKS, BONA_FIDE), resamples=20)
    assert pad["warning"] == ("the threshold was chosen on 19 attacks and 30 bona fide samples (fewer than 20 of a class): "
                              "the operating point is uncertain and the error rates on new data may be well off the "
                              "validation ones")


def _point(threshold: float, rule: str = "the strictest ...; an attack when the score >= threshold") -> dict:
    return {"target": {"apcer": 0.25}, "threshold": threshold, "rule": rule,
            "test": {"apcer": 0.5, "bpcer": float("nan"), "ci95": {"apcer": [0.0, 1.0], "bpcer": [0.0, 0.0]}},
            "validation": {"apcer": 0.25}, "summary": "s", "warning": "w"}


def test_the_deployment_takes_the_points_threshold_and_decision():
    deployment = {"threshold": 0.5, "threshold_warning": "chosen on 12 samples", "image_size": 64}
    point = _point(0.75)
    updated = apply_to_deployment(deployment, point)
    assert updated.pop("operating_point") is point
    assert updated == {"threshold": 0.75, "image_size": 64, "decision": "an attack when the score >= threshold (threshold 0.75)"}
    assert deployment["threshold"] == 0.5 and "threshold_warning" in deployment  # the caller's dict is untouched


@pytest.mark.parametrize("threshold, logit", [(0.75, math.log(3)), (1 / 7, -math.log(6)), (0.5, 0.0),
                                              (1.0, math.inf), (1.3, math.inf), (0.0, -math.inf)])
def test_a_pad_deployment_gets_the_same_threshold_as_a_logit(threshold, logit):
    updated = apply_to_deployment({"threshold": 0.5, "threshold_logit": 0.0}, _point(threshold))
    assert updated["threshold_logit"] == pytest.approx(logit)


def test_onnx_metadata_carries_the_task_the_threshold_and_the_point():
    assert onnx_metadata("fusion", {}) == {"faceauth.task": "fusion"}
    assert onnx_metadata("fusion", {"threshold": np.float32(0.25)}) == {"faceauth.task": "fusion",
                                                                        "faceauth.threshold": "0.25"}
    deployment = apply_to_deployment({"threshold": 0.5, "threshold_logit": 0.0}, _point(0.75))
    metadata = onnx_metadata("liveness", deployment)
    assert set(metadata) == {"faceauth.task", "faceauth.threshold", "faceauth.threshold_logit",
                             "faceauth.evaluation.operating_point"}
    assert float(metadata["faceauth.threshold"]) == 0.75
    assert float(metadata["faceauth.threshold_logit"]) == math.log(3)  # repr: the float exactly
    shipped = json.loads(metadata["faceauth.evaluation.operating_point"])
    # The target, threshold, rule and test rates only (no validation figures, summary or warning); NaN as text.
    assert shipped == {"target": {"apcer": 0.25}, "threshold": 0.75, "rule": _point(0.75)["rule"],
                       "test": {"apcer": 0.5, "bpcer": "nan", "ci95": {"apcer": [0.0, 1.0], "bpcer": [0.0, 0.0]}}}
