"""The one place metrics are computed: training, evaluation, the search and benchmarks all call here.

Verification (fusion): scores of genuine pairs (same identity) and impostor pairs; a pair is
accepted when its score >= threshold.

Presentation-attack detection (liveness, temporal), ISO/IEC 30107-3 with spoof as the attack class:
a sample's score is its attack probability; it is classified as an attack when score >= threshold.
APCER is the share of attacks accepted as bona fide, BPCER the share of bona fide rejected as attacks.

A threshold chosen on validation scores is placed where it transfers: every threshold between the
lowest score it accepts and the next score below gives the same validation decisions, and a threshold
at the accepted score itself leaves no margin, so new data a hair beyond the validation edge is
misclassified. `centre_in_gap` moves such a threshold to the middle of that gap (in the logit for
probabilities, in the scores' own units otherwise) without changing any validation rate; on a split
that separates the classes this is the middle of the gap between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VERIFICATION_KEYS = ("eer", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3", "accuracy", "threshold")
PAD_KEYS = ("apcer", "bpcer", "acer", "hter", "eer", "roc_auc", "bpcer_at_apcer_5pct", "bpcer_at_apcer_1pct")
# Metrics where higher is better; every other PAD rate is an error rate (lower is better).
HIGHER_IS_BETTER = ("roc_auc", "accuracy", "tar_at_far_")


def higher_is_better(metric: str) -> bool:
    return metric.startswith(HIGHER_IS_BETTER)

# A threshold chosen on a validation split with fewer samples than this in either class comes with a
# warning. With n samples of a class, the class's score nearest the threshold sits on average at its
# 1 / (n + 1) tail quantile: below 20 that edge can lie inside the class's 5% tail, so the gap seen on
# validation says little about where new samples of that class will fall.
MIN_THRESHOLD_SAMPLES = 20


@dataclass(frozen=True)
class RocCurve:
    """One point per distinct threshold, from the strictest (accept nothing) to the loosest (accept all).

    tpr[i], fpr[i] are the shares of positives / negatives with score >= thresholds[i].
    """

    thresholds: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray


def roc_curve(positive: np.ndarray, negative: np.ndarray,
              positive_weights: np.ndarray | None = None, negative_weights: np.ndarray | None = None) -> RocCurve:
    """Weights (optional, >= 0) count a score that many times: a bootstrap resample of subjects or
    identities is a reweighting of the same scores (faceauth.evaluation.verdict)."""
    return SortedScores(positive, negative).curve(positive_weights, negative_weights)


class SortedScores:
    """Positive and negative scores sorted once, so that many reweightings of them (bootstrap
    resamples) cost one cumulative sum each instead of a sort."""

    def __init__(self, positive: np.ndarray, negative: np.ndarray):
        positive = _as_scores(positive, "positive")
        negative = _as_scores(negative, "negative")
        scores = np.concatenate([positive, negative])
        self.sizes = (positive.size, negative.size)
        self.order = np.argsort(-scores, kind="mergesort")
        self.is_positive = np.r_[np.ones(positive.size, bool), np.zeros(negative.size, bool)][self.order]
        sorted_scores = scores[self.order]
        # Tied scores share one threshold: keep the last index of each run of equal scores.
        self.last_of_run = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
        self.thresholds = np.r_[np.inf, sorted_scores[self.last_of_run]]

    def curve(self, positive_weights: np.ndarray | None = None, negative_weights: np.ndarray | None = None) -> RocCurve:
        n_pos, n_neg = self.sizes
        pw = np.ones(n_pos) if positive_weights is None else np.asarray(positive_weights, dtype=np.float64)
        nw = np.ones(n_neg) if negative_weights is None else np.asarray(negative_weights, dtype=np.float64)
        if pw.sum() <= 0 or nw.sum() <= 0:
            raise ValueError("weights leave no positive or no negative score")
        weights = np.concatenate([pw, nw])[self.order]
        tp = np.cumsum(np.where(self.is_positive, weights, 0.0))[self.last_of_run]
        fp = np.cumsum(np.where(self.is_positive, 0.0, weights))[self.last_of_run]
        return RocCurve(thresholds=self.thresholds, tpr=np.r_[0.0, tp / pw.sum()], fpr=np.r_[0.0, fp / nw.sum()])


def _as_scores(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError(f"no {name} scores: metrics need at least one of each class")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} scores contain NaN or inf")
    return values


def equal_error_rate(curve: RocCurve) -> tuple[float, float]:
    """(EER, threshold): where the false-accept and false-reject rates cross, linearly interpolated
    between the two neighbouring thresholds (total overlap gives 0.5, perfect separation 0)."""
    fnr = 1.0 - curve.tpr
    gap = fnr - curve.fpr  # starts at 1 (accept nothing), ends at -1 (accept everything)
    i = int(np.flatnonzero(gap <= 0)[0])
    if gap[i] == 0 or i == 0:
        return float(curve.fpr[i]), float(curve.thresholds[i])
    # Between point i-1 (gap > 0) and point i (gap < 0): the fraction t where the gap reaches 0.
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    eer = curve.fpr[i - 1] + t * (curve.fpr[i] - curve.fpr[i - 1])
    threshold = curve.thresholds[i] if not np.isfinite(curve.thresholds[i - 1]) else (
        curve.thresholds[i - 1] + t * (curve.thresholds[i] - curve.thresholds[i - 1])
    )
    return float(eer), float(threshold)


def gap_midpoint(low: float, high: float, logit: bool) -> float:
    """The middle of the open interval (low, high) between two consecutive scores: in the logit when
    `logit` and both lie inside (0, 1) (probabilities: the middle of 0.9 and 0.999 is 0.99, where
    the model's raw output is halfway), else in the scores' own units. `high` when no float lies
    strictly between them."""
    if logit and 0.0 < low and high < 1.0:
        middle_logit = (math.log(low) - math.log1p(-low) + math.log(high) - math.log1p(-high)) / 2.0
        middle = 1.0 / (1.0 + math.exp(-middle_logit))
    else:
        middle = low + (high - low) / 2.0
    return float(middle) if low < middle < high else float(high)


def centre_in_gap(threshold: float, curve: RocCurve, logit: bool) -> float:
    """`threshold` (decisions: score >= threshold) moved off the edge: when it equals one of the curve's
    scores and a lower score exists, to the middle of the gap between them (`gap_midpoint`; the logit
    only when every score lies in [0, 1]). Every score keeps its side, so every rate on these scores
    is unchanged. A threshold already strictly between two scores (an interpolated EER threshold),
    below all of them, or above all of them is returned as it is."""
    scores = curve.thresholds[1:]  # the distinct scores, highest first
    at = np.flatnonzero(scores == threshold)
    if at.size == 0 or at[0] + 1 >= scores.size:
        return float(threshold)
    probabilities = logit and scores[-1] >= 0.0 and scores[0] <= 1.0
    return gap_midpoint(float(scores[at[0] + 1]), float(threshold), probabilities)


def few_samples_warning(positives: int, negatives: int, positive_name: str, negative_name: str) -> str | None:
    """A warning when a threshold was chosen on fewer than MIN_THRESHOLD_SAMPLES of either class, else None."""
    if min(positives, negatives) >= MIN_THRESHOLD_SAMPLES:
        return None
    return (f"the threshold was chosen on {positives} {positive_name} and {negatives} {negative_name} "
            f"(fewer than {MIN_THRESHOLD_SAMPLES} of a class): the operating point is uncertain and the error "
            "rates on new data may be well off the validation ones")


def roc_auc(curve: RocCurve) -> float:
    """Area under the ROC (trapezoids over tie-collapsed points = Mann-Whitney U with ties as 1/2)."""
    return float(np.sum(np.diff(curve.fpr) * (curve.tpr[1:] + curve.tpr[:-1]) / 2.0))


def tpr_at_fpr(curve: RocCurve, max_fpr: float) -> float:
    """The highest TPR among thresholds whose FPR does not exceed `max_fpr`."""
    return float(curve.tpr[curve.fpr <= max_fpr + 1e-12].max())


# TAR at a FAR is only quoted when at least this many impostor pairs lie beyond its threshold.
MIN_IMPOSTORS_BEYOND = 10


def enough_impostors(impostor_count: int | float, far: float) -> bool:
    return impostor_count * far >= MIN_IMPOSTORS_BEYOND - 1e-9


def verification_metrics(genuine: np.ndarray, impostor: np.ndarray, low_far: bool = False) -> dict[str, float | None]:
    """`accuracy` weighs the genuine and impostor classes equally (the balanced protocol of LFW-style
    pair lists), so a pair set with 20x more impostors does not make it trivially high; `threshold`
    is a score threshold where that best accuracy is reached: the middle of the gap below the lowest
    score it accepts (cosine similarities: in their own units, `centre_in_gap`).

    `low_far` adds `tar_at_far_1e-4`: None when there are too few impostor pairs for it (fewer than
    MIN_IMPOSTORS_BEYOND / 1e-4 = 100,000), as a TAR at a FAR that 3 impostors decide means nothing."""
    curve = roc_curve(genuine, impostor)
    eer, _ = equal_error_rate(curve)
    balanced = 0.5 * (curve.tpr + 1.0 - curve.fpr)
    best = int(np.argmax(balanced[1:])) + 1  # index 0 (threshold inf) accepts nothing
    metrics = {
        "eer": eer,
        "roc_auc": roc_auc(curve),
        "tar_at_far_1e-2": tpr_at_fpr(curve, 1e-2),
        "tar_at_far_1e-3": tpr_at_fpr(curve, 1e-3),
        "accuracy": float(balanced[best]),
        "threshold": centre_in_gap(float(curve.thresholds[best]), curve, logit=False),
    }
    if low_far:
        metrics["tar_at_far_1e-4"] = tpr_at_fpr(curve, 1e-4) if enough_impostors(np.size(impostor), 1e-4) else None
    return metrics


def bpcer_at_apcer(curve: RocCurve, max_apcer: float) -> float:
    """The lowest BPCER among thresholds whose APCER does not exceed `max_apcer` (ISO/IEC 30107-3
    BPCER20 at 5%, BPCER100 at 1%). Attack is the positive class: APCER = 1 - tpr, BPCER = fpr."""
    return float(curve.fpr[(1.0 - curve.tpr) <= max_apcer + 1e-12].min())


def pad_threshold(attack_scores: np.ndarray, bonafide_scores: np.ndarray) -> float:
    """The operating threshold chosen on a validation split: the EER threshold, moved to the middle of
    the gap below it (in the logit of the attack probability) where it sits on a score (`centre_in_gap`).
    On a split that separates attacks from bona fide samples that is the logit midpoint between the
    highest bona fide and the lowest attack score, not the lowest attack score itself."""
    curve = roc_curve(attack_scores, bonafide_scores)
    return centre_in_gap(equal_error_rate(curve)[1], curve, logit=True)


def pad_metrics(
    attack_scores: np.ndarray,
    bonafide_scores: np.ndarray,
    threshold: float | None = None,
    attack_types: np.ndarray | None = None,
) -> dict[str, float | str]:
    """ISO/IEC 30107-3 metrics. `threshold` should come from the validation split (`pad_threshold`);
    without one, these scores' own `pad_threshold` is used (right only on the validation split itself),
    and `threshold_warning` (text) is added when they hold fewer than MIN_THRESHOLD_SAMPLES attacks or
    bona fide samples.
    With `attack_types` (one label per attack score), APCER per type and the worst one are added.
    A score exactly at the threshold is classified as an attack."""
    attack = _as_scores(attack_scores, "attack")
    bonafide = _as_scores(bonafide_scores, "bona fide")
    curve = roc_curve(attack, bonafide)  # attack is the positive class
    eer, eer_threshold = equal_error_rate(curve)
    chosen_here = threshold is None
    threshold = centre_in_gap(eer_threshold, curve, logit=True) if chosen_here else float(threshold)
    apcer = float(np.mean(attack < threshold))
    bpcer = float(np.mean(bonafide >= threshold))
    metrics = {
        "apcer": apcer,
        "bpcer": bpcer,
        "acer": (apcer + bpcer) / 2.0,
        # HTER, the cross-dataset figure: (false accept + false reject) / 2 at a threshold fixed on the
        # training side's validation data. With APCER pooled over attack types, as here, it equals ACER.
        "hter": (apcer + bpcer) / 2.0,
        "eer": eer,
        "roc_auc": roc_auc(curve),
        "bpcer_at_apcer_5pct": bpcer_at_apcer(curve, 0.05),
        "bpcer_at_apcer_1pct": bpcer_at_apcer(curve, 0.01),
        "threshold": threshold,
    }
    if attack_types is not None:
        attack_types = np.asarray(attack_types)
        per_type = {str(t): float(np.mean(attack[attack_types == t] < threshold)) for t in np.unique(attack_types)}
        metrics.update({f"apcer_{t}": v for t, v in per_type.items()})
        metrics["apcer_worst"] = max(per_type.values())
        # ISO/IEC 30107-3's ACER: the worst attack type's APCER with BPCER (OULU-NPU's protocols report it so).
        metrics["acer_worst"] = (metrics["apcer_worst"] + bpcer) / 2.0
    warning = few_samples_warning(attack.size, bonafide.size, "attacks", "bona fide samples") if chosen_here else None
    if warning:
        metrics["threshold_warning"] = warning
    return metrics


# The verification protocol of the field's benchmarks (LFW, CFP-FP, AgeDB-30), as insightface computes
# it (recognition/arcface_torch/eval/verification.py, after facenet): the squared L2 distance of unit
# embeddings (0..4), "same" iff distance < threshold, the threshold chosen on the other folds from this grid.
TENFOLD_THRESHOLDS = np.arange(0, 4, 0.01)


@dataclass(frozen=True)
class TenfoldAccuracy:
    """Each fold's accuracy at the threshold chosen on the other folds; `correct`: each pair's decision
    at its own fold's threshold (what a bootstrap of the accuracy resamples)."""

    fold_accuracies: np.ndarray
    fold_thresholds: np.ndarray
    correct: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.fold_accuracies))  # population std (ddof 0), as the published figures use


def _correct_counts(distances: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Right decisions among these pairs at each threshold: genuine pairs below it, impostors at or above.
    Counted by searching sorted distances, so memory stays O(pairs + thresholds)."""
    genuine_below = np.searchsorted(np.sort(distances[same]), thresholds, side="left")
    impostor_below = np.searchsorted(np.sort(distances[~same]), thresholds, side="left")
    return genuine_below + (np.count_nonzero(~same) - impostor_below)


def tenfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray,
                     thresholds: np.ndarray = TENFOLD_THRESHOLDS) -> TenfoldAccuracy:
    """K-fold verification accuracy (K = the number of distinct `folds`, 10 for the benchmarks): for
    each fold, the threshold with the highest accuracy on the other folds (the first, lowest, of equal
    ones: np.argmax), and that threshold's accuracy on the fold. Counts are whole numbers divided by the
    same training size, so the choice equals insightface's np.mean over the training pairs exactly."""
    distances, same, folds = np.asarray(distances, np.float64), np.asarray(same, bool), np.asarray(folds)
    names, folds = np.unique(folds, return_inverse=True)
    if names.size < 2:
        raise ValueError("k-fold accuracy needs at least two folds")
    per_fold = np.stack([_correct_counts(distances[folds == k], same[folds == k], thresholds) for k in range(names.size)])
    sizes = np.bincount(folds, minlength=names.size)
    training = (per_fold.sum(axis=0) - per_fold) / (same.size - sizes)[:, None]
    chosen = thresholds[np.argmax(training, axis=1)]
    accuracies = per_fold[np.arange(names.size), np.argmax(training, axis=1)] / sizes
    return TenfoldAccuracy(accuracies, chosen, (distances < chosen[folds]) == same)
