"""What the search itself added: its best trial against the search space's defaults (always the first
trial), on the same test data, with the verdict's bootstrap interval.

The verdict (faceauth.evaluation.verdict) says whether the shipped model beats the free baselines. This says
whether searching was worth it: a search whose best trial is the defaults, or beats them only within
the noise, found nothing a single run at the defaults did not have. Both models are finished the same
way (refit where the task has it, then the test data), and the difference of the objective metric is
bootstrapped over the same independent units (identities, videos or subjects) as the verdict's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective
from faceauth.evaluation.verdict import LEVEL, RESAMPLES, bootstrap_differences, difference_scale

BEST, DEFAULTS = "best", "defaults"


def defaults_record(records: list, space) -> Any | None:
    """The trial that ran the search space's defaults (its first point), or None when none did."""
    key = space.config_key(space.defaults())
    matching = [r for r in records if space.config_key(r.hyperparameters) == key]
    return min(matching, key=lambda r: (r.number is None, r.number)) if matching else None


def compare(best: Evaluation, defaults: Evaluation, objective: Objective, best_name: str, defaults_name: str,
            resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """The best trial's model against the defaults' on the same test items: the difference of the
    objective metric (best - defaults), its 95% percentile bootstrap interval, and the outcome."""
    metric, mode = objective.metric, objective.mode
    best_scores, default_scores = next(iter(best.scores.values())), next(iter(defaults.scores.values()))
    if best.groups is None or any(len(a) != len(b) for a, b in zip(best_scores, default_scores)):
        raise ValueError("the two models were not scored on the same test items")
    joint = Evaluation({BEST: best.model_metrics, DEFAULTS: defaults.model_metrics},
                       {BEST: best_scores, DEFAULTS: default_scores}, dict(best.details), best.groups, best.attack_types)
    difference, samples = bootstrap_differences(joint, metric, resamples, seed)[DEFAULTS]
    low, high = (np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) if samples.size else (np.nan, np.nan))
    gain_low, gain_high = (low, high) if mode == "max" else (-high, -low)
    outcome = "better" if gain_low > 0 else "worse" if gain_high < 0 else "no clear difference"
    entry = {"metric": metric, "mode": mode, "best_trial": best_name, "defaults_trial": defaults_name,
             "best": float(best.model_metrics[metric]), "defaults": float(defaults.model_metrics[metric]),
             "difference": float(difference), "ci95": [float(low), float(high)], "outcome": outcome,
             "resamples": resamples, "level": LEVEL, "unit": best.details.get("bootstrap_unit", "groups"),
             "units": best.details.get("bootstrap_units")}
    entry["summary"] = summary_text(entry)
    return entry


def same_trial(name: str, metric: str, mode: str, configurations: int) -> dict[str, Any]:
    """The defaults trial is the best one: the search added nothing."""
    entry = {"metric": metric, "mode": mode, "best_trial": name, "defaults_trial": name, "outcome": "defaults are best"}
    entry["summary"] = (f"The search found nothing better than its defaults: the defaults trial {name} is the best of "
                        f"{configurations} configurations on validation {metric}; the shipped model is the defaults' model.")
    return entry


def unavailable(reason: str, metric: str, mode: str) -> dict[str, Any]:
    entry = {"metric": metric, "mode": mode, "outcome": "not compared", "reason": reason}
    entry["summary"] = f"What the search added over its defaults is not known: {reason}."
    return entry


def summary_text(entry: dict[str, Any]) -> str:
    metric = entry["metric"]
    scale, suffix = difference_scale(metric)
    low, high = entry["ci95"]
    figures = (f"best trial {entry['best_trial']} {entry['best']:.4f} vs defaults ({entry['defaults_trial']}) "
               f"{entry['defaults']:.4f}, {scale * entry['difference']:+.1f}{suffix} "
               f"(95% CI {scale * low:+.1f} to {scale * high:+.1f}); test {metric}, bootstrap over "
               f"{entry['units'] or 'the'} {entry['unit']}")
    if entry["outcome"] == "better":
        return f"The search improved {metric} over its defaults: {figures}."
    if entry["outcome"] == "worse":
        return (f"WARNING: the search's pick does worse than its defaults on the test data: {figures}. It was better on "
                "validation: the search over-fitted the validation data; prefer the defaults or a larger validation split.")
    return f"The search found nothing clearly better than its defaults (the interval includes 0): {figures}."


def protocol_summary(folds: dict[str, dict[str, Any]]) -> str:
    """A protocol search's comparison, fold by fold."""
    first = next(iter(folds.values()))
    if first.get("outcome") in ("defaults are best", "not compared"):
        return first["summary"]
    better = [n for n, e in folds.items() if e["outcome"] == "better"]
    worse = [n for n, e in folds.items() if e["outcome"] == "worse"]
    head = (f"Over its defaults, per fold: better on {len(better)} of {len(folds)} folds"
            + (f", worse on {', '.join(worse)}" if worse else "") + ".")
    return head + " " + " ".join(f"Fold '{n}': {e['summary']}" for n, e in folds.items())


def search_gain(records: list, picked, evaluations: dict[str, Evaluation], space, configurations: int,
                defaults_evaluations) -> dict[str, Any]:
    """The comparison for metrics.json, the report and the terminal. `evaluations`: the picked trial's
    test evaluation(s) by fold ("" without folds); `defaults_evaluations(record)`: the same for the
    defaults trial's model, computed only when there is something to compare."""
    metric, mode = space.metric, space.mode
    defaults = defaults_record(records, space)
    if defaults is None:
        return unavailable("no trial ran the search space's defaults", metric, mode)
    if defaults is picked:
        return same_trial(defaults.name, metric, mode, configurations)
    if defaults.checkpoint is None:
        return unavailable(f"the defaults trial {defaults.name} ended {defaults.status.replace('_', ' ')} without a model",
                           metric, mode)
    try:
        theirs = defaults_evaluations(defaults)
    except (FaceauthError, OSError) as err:  # the search's own result stands; only the comparison is lost
        return unavailable(f"the defaults trial {defaults.name}'s model could not be evaluated ({err})", metric, mode)
    objective = Objective(metric, mode)
    try:
        folds = {fold: compare(evaluation, theirs[fold], objective, picked.name, defaults.name)
                 for fold, evaluation in evaluations.items()}
    except (KeyError, ValueError) as err:
        return unavailable(f"the two models' test data differ ({err})", metric, mode)
    if list(folds) == [""]:
        return folds[""]
    return {"metric": metric, "mode": mode, "best_trial": picked.name, "defaults_trial": defaults.name,
            "folds": folds, "summary": protocol_summary(folds)}
