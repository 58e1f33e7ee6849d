"""The operating point a model ships with: a threshold chosen on the validation identities (or
subjects) for an error rate the team names, and what that threshold actually gives on the test data.

- Verification (`--target-far F`): the loosest threshold whose validation FAR (share of impostor
  pairs with score >= threshold) is at most F, i.e. the highest TAR within the FAR.
- Presentation-attack detection (`--target-apcer A`): the strictest threshold whose validation APCER
  (share of attacks scored below it, accepted as bona fide) is at most A, i.e. the lowest BPCER
  within the APCER.

Either threshold then moves off the edge score into the middle of the gap below it (the logit
midpoint for PAD's attack probabilities, the plain midpoint for verification's cosine similarities:
faceauth.evaluation.metrics.centre_in_gap), which keeps every validation rate and leaves new data just beyond the
validation edge on the right side. A validation split with fewer than MIN_THRESHOLD_SAMPLES of either
class adds a warning: the operating point is uncertain there.

On the test data the same threshold gives FAR/FRR (APCER/BPCER) that drift from the promise; each
comes with a 95% percentile bootstrap interval over the independent units behind the scores
(identities, videos or subjects: Evaluation.groups; faceauth.evaluation.verdict.metric_intervals), so the team sees
how far the operating point moves on people the model never saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceauth.evaluation.metrics import MIN_IMPOSTORS_BEYOND, centre_in_gap, few_samples_warning, roc_curve
from faceauth.evaluation.result import Evaluation
from faceauth.evaluation.verdict import RESAMPLES, metric_intervals

# target name -> (the rate it bounds, the other rate, the names of the positive and negative classes)
TARGETS = {
    "far": ("far", "frr", "genuine pairs", "impostor pairs"),
    "apcer": ("apcer", "bpcer", "attacks", "bona fide samples"),
}


def choose_threshold(positive: np.ndarray, negative: np.ndarray, target: str, value: float) -> float:
    """The threshold on `score >= threshold` (positive: genuine / attack) meeting the target on these scores:
    the loosest (far) or strictest (apcer) score meeting it, then moved to the middle of the gap to the
    next score below, where the rates on these scores stay the same (`centre_in_gap`; in the logit for
    apcer, whose scores are attack probabilities)."""
    curve = roc_curve(positive, negative)
    if target == "far":
        allowed = np.flatnonzero(curve.fpr <= value + 1e-12)
        index = int(allowed[-1])  # the loosest: highest TAR
    else:
        allowed = np.flatnonzero(1.0 - curve.tpr <= value + 1e-12)
        index = int(allowed[0])  # the strictest: lowest BPCER
    threshold = float(curve.thresholds[index])
    if not np.isfinite(threshold):  # accept nothing: just above the highest score seen
        return float(np.nextafter(curve.thresholds[1], np.inf))
    return centre_in_gap(threshold, curve, logit=target == "apcer")


def rates(positive: np.ndarray, negative: np.ndarray, threshold: float) -> tuple[float, float]:
    """(share of negatives accepted as positive, share of positives missed) at `threshold`:
    (FAR, FRR) for verification, (BPCER, APCER) for PAD."""
    return float(np.mean(negative >= threshold)), float(np.mean(positive < threshold))


def _named(target: str, false_positive: float, false_negative: float) -> dict[str, float]:
    return {"far": false_positive, "frr": false_negative} if target == "far" else {"apcer": false_negative, "bpcer": false_positive}


def _groups(evaluation: Evaluation, system: str) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    if evaluation.groups is not None:
        return evaluation.groups, str(evaluation.details.get("bootstrap_unit", "groups"))
    positive, negative = evaluation.scores[system]
    return ((np.arange(len(positive)), np.arange(len(positive), len(positive) + len(negative))),
            "samples (no subject labels: each sample its own unit, so the interval is too narrow where a person gave several)")


def _intervals(positive: np.ndarray, negative: np.ndarray, threshold: float, groups, resamples: int,
               seed: int) -> tuple[list[float], list[float]]:
    """95% intervals of (share of negatives >= threshold, share of positives below it), by the verdict's
    bootstrap over units: its `bpcer` and `apcer` at a threshold are exactly these two shares."""
    single = Evaluation({"model": {"threshold": threshold}}, {"model": (positive, negative)}, {}, groups)
    intervals = metric_intervals(single, ["bpcer", "apcer"], resamples=resamples, seed=seed)["model"]
    return intervals["bpcer"], intervals["apcer"]


def operating_point(target: str, value: float, validation: Evaluation, test: Evaluation,
                    resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """The threshold for `target` ("far" or "apcer") = `value`, chosen on `validation` (the model's
    scores on the validation split), and the rates it reaches there and on `test` (95% intervals)."""
    bounded, other, positive_name, negative_name = TARGETS[target]
    system = next(iter(validation.scores))
    val_positive, val_negative = (np.asarray(s, dtype=np.float64) for s in validation.scores[system])
    threshold = choose_threshold(val_positive, val_negative, target, value)
    test_system = next(iter(test.scores))
    positive, negative = (np.asarray(s, dtype=np.float64) for s in test.scores[test_system])
    groups, unit = _groups(test, test_system)
    false_positive_ci, false_negative_ci = _intervals(positive, negative, threshold, groups, resamples, seed)
    bounded_count = len(val_negative) if target == "far" else len(val_positive)
    result = {
        "target": {bounded: value},
        "threshold": threshold,
        "rule": (f"the loosest threshold with validation FAR <= {value:g} (highest TAR), in the middle of the gap to the "
                 "next score below; accept a pair when its score >= threshold" if target == "far" else
                 f"the strictest threshold with validation APCER <= {value:g} (lowest BPCER), in the middle (logit) of the "
                 "gap to the next score below; an attack when the score >= threshold"),
        "validation": {**_named(target, *rates(val_positive, val_negative, threshold)),
                       "positives": len(val_positive), "negatives": len(val_negative)},
        "test": {**_named(target, *rates(positive, negative, threshold)),
                 "ci95": _named(target, false_positive_ci, false_negative_ci),
                 "positives": len(positive), "negatives": len(negative),
                 "bootstrap": f"{resamples} resamples of the test {unit}"},
    }
    warnings = []
    if bounded_count * value < MIN_IMPOSTORS_BEYOND:
        counted = negative_name if target == "far" else positive_name
        warnings.append(f"the validation split has {bounded_count} {counted}: {bounded} = {value:g} is decided by "
                        f"{bounded_count * value:.2g} of them (at least {MIN_IMPOSTORS_BEYOND} are needed to resolve it); "
                        "the threshold is as strict as the validation data can say, and the test figures show how far off it is")
    few = few_samples_warning(len(val_positive), len(val_negative), positive_name, negative_name)
    if few:
        warnings.append(few)
    if warnings:
        result["warning"] = "; ".join(warnings)
    result["summary"] = summary_text(target, result, other)
    return result


def summary_text(target: str, point: dict[str, Any], other: str) -> str:
    bounded = "far" if target == "far" else "apcer"
    test, promised = point["test"], point["target"][bounded]
    low, high = test["ci95"][bounded]
    o_low, o_high = test["ci95"][other]
    return (f"Operating point: threshold {point['threshold']:.6g} chosen on the validation data for {bounded.upper()} "
            f"<= {promised:g}; on the test data it gives {bounded.upper()} {test[bounded]:.4g} (95% CI {low:.4g} to {high:.4g}) "
            f"and {other.upper()} {test[other]:.4g} (95% CI {o_low:.4g} to {o_high:.4g}).")


def apply_to_deployment(deployment: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """The deployment section with the operating point's threshold in place of the default one."""
    threshold = point["threshold"]
    # The default threshold's own warning goes with it; the operating point carries its own.
    updated = {**{k: v for k, v in deployment.items() if k != "threshold_warning"}, "threshold": threshold,
               "operating_point": point,
               "decision": point["rule"].split("; ", 1)[1] + f" (threshold {threshold:.6g})"}
    if "threshold_logit" in deployment:  # PAD models output a logit: the same threshold on it
        updated["threshold_logit"] = (float(np.log(threshold / (1 - threshold))) if 0 < threshold < 1
                                      else (float("inf") if threshold >= 1 else float("-inf")))
    return updated


def onnx_metadata(task: str, deployment: dict[str, Any]) -> dict[str, str]:
    """What the ONNX file carries so that a consumer needs no side file: the task, the threshold and,
    when one was asked for, the operating point (JSON)."""
    import json

    from faceauth.io.runlog import to_jsonable

    metadata = {"faceauth.task": task}
    if "threshold" in deployment:
        metadata["faceauth.threshold"] = repr(float(deployment["threshold"]))
    if "threshold_logit" in deployment:
        metadata["faceauth.threshold_logit"] = repr(float(deployment["threshold_logit"]))
    if "operating_point" in deployment:
        point = deployment["operating_point"]
        metadata["faceauth.evaluation.operating_point"] = json.dumps(to_jsonable({k: point[k] for k in ("target", "threshold", "rule", "test")}))
    return metadata
