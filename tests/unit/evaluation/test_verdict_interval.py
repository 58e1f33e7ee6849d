"""The verdict's and the operating point's intervals are the 95% intervals they are labelled: exactly the
2.5 and 97.5 percentiles of the bootstrap samples, and on simulated evaluations with a known true
difference they cover it about 95% of the time (faceauth.evaluation.verdict)."""

from statistics import NormalDist

import numpy as np
import pytest

from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective
from faceauth.evaluation.verdict import LEVEL, bootstrap_differences, build_verdict, metric_intervals

PHI = NormalDist().cdf

# Simulated PAD evaluations: SUBJECTS attack and SUBJECTS bona fide subjects, PER samples each. A
# sample's score is the system's class mean (attack +, bona fide -) plus a subject effect both systems
# share (sd 1), a subject effect of the system's own (sd 0.5) and noise (sd 0.5); both systems decide at
# threshold 0. Then APCER = BPCER = Phi(-mean / SD) exactly, and the model (mean 1) beats the baseline
# (mean 0.5) on ACER by Phi(-1 / SD) - Phi(-0.5 / SD) = -0.1344. The subject effects make a subject's
# samples move together: an interval that resampled samples instead of subjects would be too narrow
# (it covers about 82% here).
SUBJECTS, PER = 40, 4
SD = float(np.sqrt(1.0 + 0.25 + 0.25))
MODEL_MEAN, BASELINE_MEAN = 1.0, 0.5


def true_error_rate(mean: float) -> float:
    return PHI(-mean / SD)


def simulated(rng: np.random.Generator) -> Evaluation:
    def side(sign: float) -> tuple[np.ndarray, np.ndarray]:
        shared = np.repeat(rng.normal(0, 1, SUBJECTS), PER)
        own_model, own_baseline = (np.repeat(rng.normal(0, 0.5, SUBJECTS), PER) for _ in range(2))
        model = sign * MODEL_MEAN + shared + own_model + rng.normal(0, 0.5, shared.size)
        baseline = sign * BASELINE_MEAN + shared + own_baseline + rng.normal(0, 0.5, shared.size)
        return model, baseline

    attack_model, attack_baseline = side(1.0)
    bona_fide_model, bona_fide_baseline = side(-1.0)
    subjects = np.repeat(np.arange(SUBJECTS), PER)
    return Evaluation({"model": {"threshold": 0.0, "acer": np.nan}, "baseline": {"threshold": 0.0, "acer": np.nan}},
                      {"model": (attack_model, bona_fide_model), "baseline": (attack_baseline, bona_fide_baseline)},
                      {"bootstrap_unit": "subjects"}, groups=(subjects, SUBJECTS + subjects))


def percentile_interval(samples: np.ndarray) -> list[float]:
    """The 2.5 and 97.5 percentiles by hand: linear interpolation between order statistics (numpy's default)."""
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    result = []
    for q in (0.025, 0.975):
        position = q * (ordered.size - 1)
        below = int(np.floor(position))
        above = min(below + 1, ordered.size - 1)
        result.append(float(ordered[below] + (position - below) * (ordered[above] - ordered[below])))
    return result


def weighted_acer(attack: np.ndarray, bona_fide: np.ndarray, attack_weights: np.ndarray,
                  bona_fide_weights: np.ndarray, threshold: float) -> float:
    apcer = np.sum(attack_weights * (attack < threshold)) / attack_weights.sum()
    bpcer = np.sum(bona_fide_weights * (bona_fide >= threshold)) / bona_fide_weights.sum()
    return float((apcer + bpcer) / 2)


def test_the_level_is_95_percent():
    assert LEVEL == 0.95


def test_verdict_interval_is_exactly_the_percentile_interval_of_the_bootstrap_samples():
    evaluation = simulated(np.random.default_rng(0))
    verdict = build_verdict(evaluation, Objective("acer", "min"), resamples=300, seed=7)
    difference, samples = bootstrap_differences(evaluation, "acer", resamples=300, seed=7)["baseline"]
    assert samples.size == 300 and np.unique(samples).size > 50  # real spread to take percentiles of
    entry = verdict["baselines"]["baseline"]
    assert entry["ci95"] == pytest.approx(percentile_interval(samples), abs=1e-12)
    assert entry["difference"] == pytest.approx(difference) and verdict["level"] == 0.95
    # Not some narrower pair of quantiles that happens to sit inside.
    assert entry["ci95"][1] - entry["ci95"][0] > np.subtract(*np.quantile(samples, [0.9, 0.1])) + 1e-9


def test_bootstrap_samples_resample_subjects_with_replacement():
    """bootstrap_differences' samples recomputed by hand: each resample draws as many subjects as
    there are, with replacement (the same generator calls), and weighs each score by its subject's draws."""
    evaluation = simulated(np.random.default_rng(1))
    _, samples = bootstrap_differences(evaluation, "acer", resamples=50, seed=3)["baseline"]
    attack_units, bona_fide_units = evaluation.groups
    units = np.unique(np.concatenate([attack_units, bona_fide_units]))
    rng = np.random.default_rng(3)
    expected = []
    for _ in range(50):
        counts = np.bincount(rng.integers(0, units.size, units.size), minlength=units.size).astype(float)
        aw, bw = counts[np.searchsorted(units, attack_units)], counts[np.searchsorted(units, bona_fide_units)]
        if aw.sum() == 0 or bw.sum() == 0:
            continue
        expected.append(weighted_acer(*evaluation.scores["model"], aw, bw, 0.0)
                        - weighted_acer(*evaluation.scores["baseline"], aw, bw, 0.0))
    assert samples == pytest.approx(np.array(expected), abs=1e-12)


def test_metric_intervals_are_the_percentile_intervals_of_the_same_resamples():
    """A baseline that catches every attack in every resample has APCER 0 there, so the model's APCER
    differences against it are the model's APCER samples: metric_intervals must quote their 2.5 and 97.5
    percentiles (the same seed gives the same resamples)."""
    evaluation = simulated(np.random.default_rng(2))
    attack, bona_fide = evaluation.scores["model"]
    perfect = (np.full(attack.size, 100.0), np.full(bona_fide.size, -100.0))
    both = Evaluation({"model": {"threshold": 0.0}, "perfect": {"threshold": 0.0}},
                      {"model": (attack, bona_fide), "perfect": perfect}, {}, evaluation.groups)
    intervals = metric_intervals(both, ["apcer", "bpcer"], resamples=300, seed=5)
    for metric in ("apcer", "bpcer"):
        _, samples = bootstrap_differences(both, metric, resamples=300, seed=5)["perfect"]
        assert intervals["model"][metric] == pytest.approx(percentile_interval(samples), abs=1e-12), metric
        assert intervals["perfect"][metric] == [0.0, 0.0]


def test_verdict_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """200 simulated evaluations, 200 resamples each: the percentile bootstrap over subjects covers the
    true ACER difference in 93.5% of them here (a little under 95%, as percentile intervals on 40
    subjects a class are); an 80% interval covers about 79%, a bootstrap over samples about 82%."""
    rng = np.random.default_rng(0)
    truth = true_error_rate(MODEL_MEAN) - true_error_rate(BASELINE_MEAN)
    covered = 0
    for k in range(200):
        low, high = build_verdict(simulated(rng), Objective("acer", "min"), resamples=200, seed=k)["baselines"]["baseline"]["ci95"]
        covered += low <= truth <= high
    assert 0.88 <= covered / 200 <= 0.995, covered / 200


def test_metric_intervals_cover_the_true_rates_about_95_percent_of_the_time():
    """The operating point's intervals (APCER and BPCER at a fixed threshold) on the same simulations:
    91% and 93% here (400 intervals pooled: 92%; an 80% interval would cover about 78%)."""
    rng = np.random.default_rng(1)
    truth = true_error_rate(MODEL_MEAN)
    covered = {"apcer": 0, "bpcer": 0}
    for k in range(200):
        evaluation = simulated(rng)
        single = Evaluation({"model": {"threshold": 0.0}}, {"model": evaluation.scores["model"]}, {}, evaluation.groups)
        intervals = metric_intervals(single, ["apcer", "bpcer"], resamples=200, seed=k)["model"]
        for metric, (low, high) in intervals.items():
            covered[metric] += low <= truth <= high
    assert 0.88 <= sum(covered.values()) / 400 <= 0.995, covered
    assert all(0.85 <= count / 200 for count in covered.values()), covered
