"""Does the model beat its baselines on the test data, and by how much? The answer every run and every
search gives first: in the terminal summary, in `metrics.json` (key "verdict") and in `report.md`.

The difference of the task's objective metric (model minus baseline, on the same test pairs or samples)
comes with a 95% percentile bootstrap interval that resamples the independent units behind the scores
(`Evaluation.groups`): identities for verification — pairs of one identity are not independent — and
videos or subjects for presentation-attack detection — frames of one video are not. A resample is a
reweighting of the same scores: a unit drawn k times counts k times; an impostor pair of units drawn
j and k times counts j * k times, a genuine pair of a unit drawn k times counts k times.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceauth.evaluation.metrics import SortedScores, bpcer_at_apcer, equal_error_rate, roc_auc, tpr_at_fpr
from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective

RESAMPLES = 1000
LEVEL = 0.95
# Metrics that are rates: differences are quoted in points (x100).
_RATES = ("tar_at_far_", "eer", "apcer", "bpcer", "acer", "accuracy", "hter")


def weighted_metric(name: str, sorted_scores: SortedScores, positive: np.ndarray, negative: np.ndarray,
                    positive_weights: np.ndarray | None, negative_weights: np.ndarray | None,
                    threshold: float | None, attack_types: np.ndarray | None = None) -> float:
    """One metric of weighted scores. Threshold metrics (apcer, bpcer, acer, hter, apcer_<type>,
    acer_worst: PAD, positive = attack) use the system's own threshold, chosen on validation data;
    apcer_<type>, apcer_worst and acer_worst need `attack_types` (one label per positive score)."""
    pw = np.ones(positive.size) if positive_weights is None else positive_weights
    nw = np.ones(negative.size) if negative_weights is None else negative_weights
    if name == "acer_worst":
        worst = weighted_metric("apcer_worst", sorted_scores, positive, negative, pw, nw, threshold, attack_types)
        return (worst + weighted_metric("bpcer", sorted_scores, positive, negative, pw, nw, threshold)) / 2
    if name.startswith("apcer_"):
        if threshold is None or attack_types is None:
            raise ValueError(f"metric '{name}' needs the validation threshold and the attack type of each attack")
        rates = {}
        for kind in np.unique(attack_types):
            mask = attack_types == kind
            if pw[mask].sum() > 0:  # a resample that drew no attack of this type has no rate for it
                rates[str(kind)] = float(np.sum(pw[mask] * (positive[mask] < threshold)) / pw[mask].sum())
        return max(rates.values()) if name == "apcer_worst" else rates.get(name.removeprefix("apcer_"), np.nan)
    if name in ("apcer", "bpcer", "acer", "hter"):
        if threshold is None:
            raise ValueError(f"metric '{name}' needs the system's validation threshold")
        apcer = float(np.sum(pw * (positive < threshold)) / pw.sum())
        bpcer = float(np.sum(nw * (negative >= threshold)) / nw.sum())
        return {"apcer": apcer, "bpcer": bpcer}.get(name, (apcer + bpcer) / 2)
    curve = sorted_scores.curve(pw, nw)
    if name.startswith("tar_at_far_"):
        return tpr_at_fpr(curve, float(name.removeprefix("tar_at_far_")))
    if name == "eer":
        return equal_error_rate(curve)[0]
    if name == "roc_auc":
        return roc_auc(curve)
    if name == "bpcer_at_apcer_1pct":
        return bpcer_at_apcer(curve, 0.01)
    if name == "bpcer_at_apcer_5pct":
        return bpcer_at_apcer(curve, 0.05)
    raise ValueError(f"no bootstrap for metric '{name}'")


def _weights(groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if groups.ndim == 1:
        return counts[groups].astype(np.float64)
    first, second = counts[groups[:, 0]], counts[groups[:, 1]]
    return np.where(groups[:, 0] == groups[:, 1], first, first * second).astype(np.float64)


def _unit_indices(evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the distinct units, each positive's and each negative's unit as an index into them)."""
    if evaluation.groups is None:
        raise ValueError("the evaluation has no groups to resample")
    positive_groups, negative_groups = (np.asarray(g) for g in evaluation.groups)
    units, inverse = np.unique(np.concatenate([positive_groups.ravel(), negative_groups.ravel()]), return_inverse=True)
    return (units, inverse[:positive_groups.size].reshape(positive_groups.shape),
            inverse[positive_groups.size:].reshape(negative_groups.shape))


def bootstrap_differences(evaluation: Evaluation, metric: str, resamples: int = RESAMPLES,
                          seed: int = 0) -> dict[str, tuple[float, np.ndarray]]:
    """For each baseline: (model - baseline on all data, the same difference on each resample)."""
    units, positive_groups, negative_groups = _unit_indices(evaluation)
    systems = list(evaluation.metrics)
    prepared = {}
    for name in systems:
        positive, negative = (np.asarray(s, dtype=np.float64) for s in evaluation.scores[name])
        prepared[name] = (SortedScores(positive, negative), positive, negative, evaluation.metrics[name].get("threshold"))

    def value(name: str, pw=None, nw=None) -> float:
        return weighted_metric(metric, prepared[name][0], prepared[name][1], prepared[name][2], pw, nw, prepared[name][3])

    full = {name: value(name) for name in systems}
    rng = np.random.default_rng(seed)
    samples = {name: [] for name in systems[1:]}
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, units.size, units.size), minlength=units.size)
        pw, nw = _weights(positive_groups, counts), _weights(negative_groups, counts)
        if pw.sum() == 0 or nw.sum() == 0:
            continue  # a resample with no genuine or no impostor pair: skipped, as it has no metric
        model = value(systems[0], pw, nw)
        for name in systems[1:]:
            samples[name].append(model - value(name, pw, nw))
    return {name: (full[systems[0]] - full[name], np.asarray(samples[name])) for name in systems[1:]}


def metric_intervals(evaluation: Evaluation, metrics: list[str], attack_types: np.ndarray | None = None,
                     resamples: int = RESAMPLES, seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """For each system and metric: the 95% percentile bootstrap interval, resampling the units of
    `evaluation.groups` (videos or subjects, not frames), the same resamples for every system.
    `attack_types` (default: the evaluation's) labels each attack score, for apcer_<type>."""
    units, positive_groups, negative_groups = _unit_indices(evaluation)
    attack_types = evaluation.attack_types if attack_types is None else attack_types
    types = None if attack_types is None else np.asarray(attack_types)
    prepared = {}
    for name in evaluation.metrics:
        positive, negative = (np.asarray(s, dtype=np.float64) for s in evaluation.scores[name])
        prepared[name] = (SortedScores(positive, negative), positive, negative, evaluation.metrics[name].get("threshold"))
    samples = {name: {m: [] for m in metrics} for name in prepared}
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, units.size, units.size), minlength=units.size)
        pw, nw = _weights(positive_groups, counts), _weights(negative_groups, counts)
        if pw.sum() == 0 or nw.sum() == 0:
            continue
        for name, (sorted_scores, positive, negative, threshold) in prepared.items():
            for metric in metrics:
                samples[name][metric].append(weighted_metric(metric, sorted_scores, positive, negative, pw, nw, threshold, types))
    intervals = {}
    for name, by_metric in samples.items():
        intervals[name] = {}
        for metric, values in by_metric.items():
            values = np.asarray(values, dtype=np.float64)
            values = values[np.isfinite(values)]
            low, high = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) if values.size else (np.nan, np.nan)
            intervals[name][metric] = [float(low), float(high)]
    return intervals


def clearly_better(evaluation: Evaluation, metric: str, mode: str, resamples: int = 200, seed: int = 0) -> bool:
    """Whether the first system beats the second on `metric` beyond the noise: the lower end of the
    95% bootstrap interval of the gain is above zero. Used to keep a more complex model only where
    the validation data show it is better, not where a small validation set happened to favour it."""
    difference, samples = next(iter(bootstrap_differences(evaluation, metric, resamples, seed).values()))
    gains = samples if mode == "max" else -samples
    return bool(gains.size) and float(np.quantile(gains, (1 - LEVEL) / 2)) > 0


def difference_scale(metric: str) -> tuple[float, str]:
    return (100.0, " points") if metric.startswith(_RATES) else (1.0, "")


def build_verdict(evaluation: Evaluation, objective: Objective, advice: str = "",
                  resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """The verdict of `metrics.json`: per baseline the model's and the baseline's test value, the
    difference, its 95% interval and whether the model beats it; `summary` says it in one paragraph."""
    differences = bootstrap_differences(evaluation, objective.metric, resamples, seed)
    values = {name: float(metrics[objective.metric]) for name, metrics in evaluation.metrics.items()}
    return verdict_of(differences, values, objective, evaluation.details.get("bootstrap_unit", "groups"),
                      evaluation.details.get("bootstrap_units"), resamples, advice)


def verdict_of(differences: dict[str, tuple[float, np.ndarray]], values: dict[str, float], objective: Objective,
               unit: str, units_count: int | None, resamples: int = RESAMPLES, advice: str = "") -> dict[str, Any]:
    """The verdict's dict from each baseline's (difference, bootstrap samples of it): `values` holds the
    model's value first, then each baseline's. Shared by every kind of difference the verdict is about."""
    metric, mode = objective.metric, objective.mode
    model_value = next(iter(values.values()))
    baselines = {}
    for name, (difference, samples) in differences.items():
        low, high = (np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) if samples.size else (np.nan, np.nan))
        gain = difference if mode == "max" else -difference  # > 0: the model is better
        gain_low, gain_high = (low, high) if mode == "max" else (-high, -low)
        outcome = "better" if gain_low > 0 else "worse" if gain_high < 0 else "no clear difference"
        baselines[name] = {
            "model": float(model_value), "baseline": float(values[name]),
            "difference": float(difference), "ci95": [float(low), float(high)],
            "beats": bool(gain > 0), "outcome": outcome,
        }
    verdict = {"metric": metric, "mode": mode, "resamples": resamples, "level": LEVEL,
               "unit": unit, "units": units_count, "baselines": baselines}
    verdict["summary"] = summary_text(verdict, advice)
    return verdict


def tenfold_differences(correct: dict[str, np.ndarray], folds: np.ndarray, groups: np.ndarray,
                        resamples: int = RESAMPLES, seed: int = 0) -> dict[str, tuple[float, np.ndarray]]:
    """For each baseline: (model - baseline k-fold accuracy, the same on each resample). `correct`: each
    system's right/wrong decision per pair at its fold's chosen threshold (faceauth.evaluation.metrics.tenfold_accuracy),
    the model first; `groups`: each pair's unit, (n,) (the pair itself) or (n, 2) (its two identities).
    A resample reweights the pairs as `bootstrap_differences` does; the thresholds stay as chosen."""
    _, folds = np.unique(folds, return_inverse=True)
    units, inverse = np.unique(np.asarray(groups).ravel(), return_inverse=True)
    pair_units = inverse.reshape(np.shape(groups))
    systems = list(correct)

    def accuracy(name: str, weights: np.ndarray) -> float:
        totals = np.bincount(folds, weights=weights)
        right = np.bincount(folds, weights=weights * correct[name])
        return float(np.mean(right[totals > 0] / totals[totals > 0]))

    ones = np.ones(folds.size)
    full = {name: accuracy(name, ones) for name in systems}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in systems[1:]}
    for _ in range(resamples):
        weights = _weights(pair_units, np.bincount(rng.integers(0, units.size, units.size), minlength=units.size))
        model = accuracy(systems[0], weights)
        for name in systems[1:]:
            samples[name].append(model - accuracy(name, weights))
    return {name: (full[systems[0]] - full[name], np.asarray(samples[name])) for name in systems[1:]}


def _difference_text(metric: str, mode: str, name: str, entry: dict[str, Any]) -> str:
    """"model 0.0000 vs lbp_logreg 0.5000: 50.0 points better (95% CI ...)": each number after the name it
    belongs to, the difference in words, its interval as model minus baseline."""
    scale, suffix = difference_scale(metric)
    low, high = entry["ci95"]
    gain = entry["difference"] if mode == "max" else -entry["difference"]
    direction = "better" if gain > 0 else "worse" if gain < 0 else "apart"
    return (f"model {entry['model']:.4f} vs {name} {entry['baseline']:.4f}: {abs(scale * entry['difference']):.1f}{suffix} "
            f"{direction} (95% CI of model - {name}: {scale * low:+.1f} to {scale * high:+.1f})")


def summary_text(verdict: dict[str, Any], advice: str = "") -> str:
    """Worse first: a baseline the model does not beat is named before anything else."""
    metric, baselines = verdict["metric"], verdict["baselines"]
    better = "higher" if verdict["mode"] == "max" else "lower"
    over = (f"test {metric} ({better} is better), bootstrap over {verdict['units'] or 'the'} {verdict['unit']}")
    lost = [n for n, e in baselines.items() if not e["beats"]]
    level = [n for n, e in baselines.items() if e["beats"] and e["outcome"] != "better"]
    if lost:
        parts = "; ".join(_difference_text(metric, verdict["mode"], n, baselines[n]) for n in lost)
        text = f"WARNING: the model does NOT beat {', '.join(lost)}: {parts}; {over}."
        if advice:
            text += f" {advice}"
        won = [n for n in baselines if n not in lost]
        if won:
            text += " It does beat " + "; ".join(_difference_text(metric, verdict["mode"], n, baselines[n]) for n in won) + "."
        return text
    parts = "; ".join(_difference_text(metric, verdict["mode"], n, e) for n, e in baselines.items())
    if level:
        return (f"The model scores above every baseline but not clearly above {', '.join(level)} "
                f"(the interval includes 0): {parts}; {over}.")
    return f"The model beats every baseline: {parts}; {over}."
