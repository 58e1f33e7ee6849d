"""Several objectives and constraints without Ray: parsing, feasibility, the Pareto front, the knee,
the hypervolume, the operating-point threshold and the search-space YAML keys."""

import math

import numpy as np
import pytest
import yaml

from faceauth.io.errors import FaceauthError
from faceauth.evaluation.metrics import PAD_KEYS
from faceauth.evaluation.operating_point import apply_to_deployment, choose_threshold, operating_point, rates
from faceauth.tuning.best import TrialRecord, deployment_with_target
from faceauth.tuning.front import analyse
from faceauth.tuning.objectives import (dominates, hypervolume_2d, knee, pareto_front, parse_constraint,
                                        parse_objective)
from faceauth.tuning.space import load_search_space, with_objectives
from faceauth.tasks import Evaluation
from faceauth.tasks.liveness.config import LivenessConfig


def test_objectives_and_constraints_parse_and_bad_ones_name_the_fix():
    assert parse_objective("eer:min", PAD_KEYS, "x").metric == "eer"
    assert parse_objective("onnx_latency_ms:min", PAD_KEYS, "x").mode == "min"
    c = parse_constraint("onnx_latency_ms <= 2.5", PAD_KEYS, "x")
    assert (c.metric, c.op, c.bound) == ("onnx_latency_ms", "<=", 2.5)
    assert c.violation({"onnx_latency_ms": 2.0}) == pytest.approx(-0.5) and c.holds({"onnx_latency_ms": 2.5})
    assert not c.holds({"onnx_latency_ms": 2.6}) and c.violation({}) == math.inf  # not reported: infeasible
    assert parse_constraint("roc_auc>=0.9", PAD_KEYS, "x").violation({"roc_auc": 0.95}) == pytest.approx(-0.05)
    for bad, words in (("eer", "METRIC:MODE"), ("eer:down", "min or max"), ("tar_at_far_1e-3:max", "not one the trials")):
        with pytest.raises(FaceauthError, match=words):
            parse_objective(bad, PAD_KEYS, "--objective")
    for bad, words in (("latency<2", "METRIC<=VALUE"), ("flops<=3", "not one the trials"), ("eer<=nan", "finite")):
        with pytest.raises(FaceauthError, match=words):
            parse_constraint(bad, PAD_KEYS, "--constraint")


def test_pareto_front_knee_and_hypervolume_on_hand_made_points():
    modes = ("min", "min")  # (error, latency)
    points = [(0.10, 5.0), (0.12, 2.0), (0.20, 1.0), (0.15, 3.0), (0.30, 0.9), (0.12, 2.0)]
    assert dominates((0.12, 2.0), (0.15, 3.0), modes) and not dominates((0.12, 2.0), (0.12, 2.0), modes)
    assert pareto_front(points, modes) == [0, 1, 2, 4, 5]  # (0.15, 3.0) is dominated; duplicates both stay
    # Scaled over the front: error (x-0.10)/0.20, latency (y-0.9)/4.1; (0.12, 2.0) is nearest the ideal corner.
    assert knee(points, modes) == 1
    assert knee([(0.2, 1.0)], modes) == 0
    # A max objective is turned around: accuracy 0.9 at 5 ms vs 0.8 at 1 ms; both on the front.
    assert pareto_front([(0.9, 5.0), (0.8, 1.0), (0.7, 2.0)], ("max", "min")) == [0, 1]
    # Dominated area below the reference (1, 10): rectangles of (0.1, 5) and (0.2, 1) minus their overlap.
    area = hypervolume_2d([(0.1, 5.0), (0.2, 1.0)], modes, (1.0, 10.0))
    assert area == pytest.approx(0.9 * 5 + 0.8 * 9 - 0.8 * 5)
    assert hypervolume_2d([(2.0, 1.0)], modes, (1.0, 10.0)) == 0.0  # beyond the reference: counts nothing


def _record(trial_id: str, value: float, latency: float, checkpoint=object(), metric: str = "eer") -> TrialRecord:
    return TrialRecord(trial_id=trial_id, name=f"liveness_{trial_id}", number=None, folder="", started_at=None,
                       ended_at=None, hyperparameters={}, status="completed", error=None, epochs_run=2, best=value, last={},
                       wall_time_s=1.0, loop_time_s=1.0, checkpoint=checkpoint,
                       kept={metric: value, "onnx_latency_ms": latency, "params": 10.0, "onnx_bytes": 100.0})


def _space(tmp_path, constraints, objectives=("eer:min", "onnx_latency_ms:min")):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"objectives": list(objectives), "constraints": constraints,
                                    "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}))
    return load_search_space(path, LivenessConfig, PAD_KEYS)


def test_the_pick_is_never_an_infeasible_trial(tmp_path):
    space = _space(tmp_path, ["onnx_latency_ms<=2.5"])
    assert space.metric == "eer" and space.multi_objective and str(space.constraints[0]) == "onnx_latency_ms<=2.5"
    records = [_record("fast_bad", 0.30, 0.5), _record("slow_good", 0.05, 4.0), _record("mid", 0.10, 2.0),
               _record("knee", 0.12, 1.0), _record("dominated", 0.20, 2.2)]
    best = analyse(records, space, "best")
    assert best.pick.trial_id == "mid"  # slow_good has the best eer but breaks the constraint
    assert [r.trial_id for r in best.front] == ["mid", "knee", "fast_bad"]  # sorted by eer; slow_good not feasible
    assert best.columns()["slow_good"] == {"feasible": False, "pareto": False, "picked": False,
                                           "objective_eer": 0.05, "objective_onnx_latency_ms": 4.0}
    assert analyse(records, space, "knee").pick.trial_id == "knee"
    tied = analyse([_record("slow", 0.1, 2.4), _record("fast", 0.1, 1.5)], space, "best")
    assert tied.pick.trial_id == "fast" and [r.trial_id for r in tied.front] == ["fast"]
    nothing = analyse(records, _space(tmp_path, ["onnx_latency_ms<=0.1"]), "best")
    assert nothing.pick is None and not nothing.front and not nothing.feasible


def test_objectives_in_the_yaml_and_on_the_command_line(tmp_path):
    space = _space(tmp_path, [])
    moved = with_objectives(space, ["onnx_latency_ms:min", "acer:min"], ["params<=1000"], PAD_KEYS)
    assert (moved.metric, moved.mode) == ("acer", "min")  # the first accuracy objective is the primary
    assert [o.metric for o in moved.objectives] == ["onnx_latency_ms", "acer"] and str(moved.constraints[0]) == "params<=1000"
    with pytest.raises(FaceauthError, match="at least one objective must be an accuracy metric"):
        with_objectives(space, ["onnx_latency_ms:min", "params:min"], None, PAD_KEYS)
    with pytest.raises(FaceauthError, match="named more than once"):
        with_objectives(space, ["eer:min", "eer:max"], None, PAD_KEYS)
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump({"metric": "acer", "mode": "min", "objectives": ["eer:min"],
                                    "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}))
    with pytest.raises(FaceauthError, match="clash.yaml: metric/mode"):
        load_search_space(path, LivenessConfig, PAD_KEYS)


def test_threshold_for_a_target_far_or_apcer():
    genuine = np.array([0.9, 0.8, 0.7, 0.6])
    impostor = np.linspace(0.0, 0.65, 100)  # 1 impostor in 100 above 0.645
    threshold = choose_threshold(genuine, impostor, "far", 0.01)
    far, frr = rates(genuine, impostor, threshold)
    assert far <= 0.01 and frr == 0.25  # 0.6 is below every threshold that keeps FAR <= 1%
    # The loosest score meeting FAR <= 1% is 0.65 (the next score down, impostor[-2], breaks it); the
    # threshold then sits in the middle of the gap between them (cosine scores: plain midpoint), where
    # the validation rates are those of 0.65 (faceauth.evaluation.metrics.centre_in_gap).
    assert threshold == pytest.approx((0.65 + impostor[-2]) / 2) and impostor[-2] < threshold < 0.65
    assert rates(genuine, impostor, threshold) == rates(genuine, impostor, 0.65)
    assert rates(genuine, impostor, impostor[-2])[0] > 0.01  # the next score down breaks it
    attacks, bona_fide = np.array([0.95, 0.9, 0.3, 0.85]), np.array([0.1, 0.2, 0.5, 0.4])
    t = choose_threshold(attacks, bona_fide, "apcer", 0.25)
    bpcer, apcer = rates(attacks, bona_fide, t)
    # The strictest score missing one attack in four is 0.85; the threshold sits at the logit midpoint
    # of the gap from it down to the next score, 0.5 (attack probabilities: midpoint in the logit).
    assert apcer == 0.25 and bpcer == 0.0 and t == pytest.approx(logit_midpoint(0.5, 0.85)) and 0.5 < t < 0.85
    # Every attack caught: the lowest attack 0.3, then the middle of the gap down to bona fide 0.2.
    assert choose_threshold(attacks, bona_fide, "apcer", 0.0) == pytest.approx(logit_midpoint(0.2, 0.3))


def logit_midpoint(low, high):
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    return 1 / (1 + np.exp(-(logit(low) + logit(high)) / 2))


def test_operating_point_reports_the_test_rates_with_intervals_over_units():
    rng = np.random.default_rng(0)
    val = Evaluation({"m": {}}, {"m": (rng.normal(2, 1, 400), rng.normal(0, 1, 400))})
    pos, neg = rng.normal(2, 1, 300), rng.normal(0.3, 1, 300)  # the test impostors drift up
    groups = (np.arange(300) // 3, 100 + np.arange(300) // 3)  # three samples a subject
    test = Evaluation({"m": {}}, {"m": (pos, neg)}, {"bootstrap_unit": "subjects"}, groups)
    point = operating_point("apcer", 0.05, val, test, resamples=200)
    assert point["validation"]["apcer"] <= 0.05
    low, high = point["test"]["ci95"]["bpcer"]
    assert low <= point["test"]["bpcer"] <= high and high - low > 0
    assert "subjects" in point["test"]["bootstrap"] and "warning" not in point  # 400 attacks x 5% = 20 decide it
    assert "decided by 4 of them" in operating_point("apcer", 0.01, val, test, resamples=20)["warning"]


def test_knee_tie_goes_to_the_better_primary_objective():
    # Scaled over the front, both points lie at distance 1 from the ideal corner.
    assert knee([(0.1, 2.0), (0.2, 1.0)], ("min", "min")) == 0
    assert knee([(0.8, 1.0), (0.9, 2.0)], ("max", "min")) == 1


def test_best_pick_follows_each_objective_mode(tmp_path):
    space = _space(tmp_path, [], ("roc_auc:max", "onnx_latency_ms:min"))
    records = [_record("a", 0.9, 2.0, metric="roc_auc"), _record("b", 0.8, 1.0, metric="roc_auc")]
    result = analyse(records, space, "best")
    assert result.pick.trial_id == "a"  # the higher roc_auc, though slower
    assert [r.trial_id for r in result.front] == ["a", "b"]


def test_a_trial_without_a_checkpoint_is_never_picked_nor_on_the_front(tmp_path):
    space = _space(tmp_path, [])
    records = [_record("lost", 0.01, 0.5, checkpoint=None), _record("kept", 0.10, 2.0)]
    result = analyse(records, space, "best")
    assert result.pick.trial_id == "kept" and [r.trial_id for r in result.front] == ["kept"]
    assert "lost" not in result.columns() and analyse(records, space, "knee").pick.trial_id == "kept"


def test_too_few_validation_attacks_for_the_target_apcer_warns():
    rng = np.random.default_rng(0)
    val = Evaluation({"m": {}}, {"m": (rng.normal(2, 1, 100), rng.normal(0, 1, 1000))})  # 100 attacks, 1000 bona fide
    test = Evaluation({"m": {}}, {"m": (rng.normal(2, 1, 50), rng.normal(0, 1, 50))})
    warning = operating_point("apcer", 0.05, val, test, resamples=20).get("warning", "")
    assert "100 attacks" in warning and "decided by 5 of them" in warning


def test_deployment_threshold_logit_is_the_log_odds_of_the_threshold():
    updated = apply_to_deployment({"threshold": 0.5, "threshold_logit": 0.0}, {"threshold": 0.8, "rule": "a; b"})
    assert updated["threshold"] == 0.8 and updated["threshold_logit"] == pytest.approx(math.log(4))
    assert updated["decision"] == "b (threshold 0.8)"


def test_the_operating_point_is_chosen_on_the_validation_split():
    attacks, bona_fide = np.array([0.95, 0.9, 0.3, 0.85]), np.array([0.1, 0.2, 0.5, 0.4])

    class Stub:
        def __init__(self):
            self.splits = []

        def deployment_info(self, checkpoint):
            return {}

        def evaluate(self, checkpoint, test_data, split_name):
            self.splits.append(split_name)
            return Evaluation({"m": {}}, {"m": (attacks, bona_fide)})

    task = Stub()
    test = Evaluation({"m": {}}, {"m": (np.array([0.6, 0.7]), np.array([0.2, 0.65]))})
    deployment = deployment_with_target(task, {"model_args": {}}, test, ("apcer", 0.25))
    assert task.splits == ["val"]
    # From the validation scores: 0.85 moved to the logit midpoint of the gap down to 0.5, their next
    # score (the test scores would give 0.6, moved into the gap down to 0.2).
    assert deployment["threshold"] == pytest.approx(logit_midpoint(0.5, 0.85))
