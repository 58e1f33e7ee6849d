"""`best/report.md`: the search on one page, with PNG plots beside it (matplotlib, no display needed)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from statistics import NormalDist
from collections import Counter
from typing import Any

import numpy as np

from faceauth.io.formatting import hyperparameter_value, number_cell, threshold_note
from faceauth.evaluation.metrics import equal_error_rate, higher_is_better, roc_curve, tpr_at_fpr
from faceauth.io.runlog import atomic_replace, atomic_write_text
from faceauth.tuning.best import BestResult, TrialRecord
from faceauth.tuning.space import SearchSpace
from faceauth.tasks import Evaluation
from faceauth.tasks.base import SCORE_AXES, ScoreAxes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    with atomic_replace(path) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip("."))


HISTORY_COLOURS = {"completed": "tab:blue", "early_stopped": "tab:green", "stopped_by_scheduler": "tab:gray",
                   "failed": "tab:red", "interrupted": "tab:orange"}


def plot_history(records: list[TrialRecord], space: SearchSpace, path: Path) -> Path:
    """Each trial's kept value against the number in its name (the 7 of fusion_0007), coloured by
    status, with the best so far; a second panel zooms on the trials near the best, where trials that
    the first panel's scale makes look alike differ, and shows each trial's best trained epoch beside
    the value it kept (a trained epoch is kept only where it clearly beats the closed-form start)."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    points = sorted((_name_index(r, i), r.best, r.status, r.best_trained) for i, r in enumerate(records) if r.best is not None)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    pick = np.maximum.accumulate if space.mode == "max" else np.minimum.accumulate
    trained = [(n, t) for n, v, _, t in points if t is not None]
    if trained:
        axes[1].scatter(*zip(*trained), s=30, facecolors="none", edgecolors="black", linewidths=0.8,
                        label="best trained epoch")
    for ax in axes:
        for status, colour in HISTORY_COLOURS.items():
            pts = [(n, v) for n, v, s, _ in points if s == status]
            if pts:
                ax.scatter(*zip(*pts), s=18, color=colour, label=status.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if points:
        numbers, values = [p[0] for p in points], np.array([p[1] for p in points])
        axes[0].step(numbers, pick(values), where="post", color="black", linewidth=1, label="best so far")
        near = _near_best(np.array([*values, *(t for _, t in trained)]), values, space.mode)
        axes[1].set_ylim(*near)
        shown = int(np.sum((values >= near[0]) & (values <= near[1])))
        axes[1].set_title(f"Near the best: {shown} of {len(values)} trials", fontsize=10)
        axes[1].set_xlabel("trial")
        if trained:
            axes[1].legend(handles=axes[1].get_legend_handles_labels()[0][:1], fontsize=8)
    save_plot(fig, axes[0], path, "trial", f"validation {space.metric}", "Optimisation history")
    return path


def _name_index(record: TrialRecord, position: int) -> int:
    """The number in the trial's name (fusion_0007: 7): the order Tune created trials in. The Optuna
    number differs once repeated suggestions were answered from the study without a trial."""
    digits = record.name.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else position


def _near_best(shown: np.ndarray, kept: np.ndarray, mode: str) -> tuple[float, float]:
    """A y-range from the median kept value to the best of everything `shown` (at least 0.01 wide),
    padded by a tenth: where the better half of the trials lies."""
    best = shown.max() if mode == "max" else shown.min()
    low, high = sorted((float(best), float(np.median(kept))))
    if high - low < 0.01:
        low, high = (high - 0.01, high) if mode == "max" else (low, low + 0.01)
    pad = (high - low) / 10
    return low - pad, high + pad


def save_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Label one axes, add its legend, write the figure as PNG and free it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    _pyplot().close(fig)
    return path


def parameter_importance(records: list[TrialRecord], space: SearchSpace) -> list[tuple[str, dict[str, float]]]:
    """Optuna's PED-ANOVA importance over the trials that reported the metric (their best value), in
    sections: the parameters every trial has, over all trials; then each group of conditional
    parameters (one `when`), over the trials where they were active. A parameter counts only where
    it was active. PED-ANOVA needs no scikit-learn, unlike Optuna's default fANOVA."""
    finished = [r for r in records if r.best is not None]
    always = [n for n, p in space.parameters.items() if not p.when]
    sections = [(f"all {len(finished)} trials", _importance(finished, always, always, space))]
    groups: dict[str, list[str]] = {}
    for name, p in space.parameters.items():
        if p.when:
            label = " and ".join(f"{k} = {v[0] if len(v) == 1 else ' or '.join(map(str, v))}" for k, v in p.when.items())
            groups.setdefault(label, []).append(name)
    for label, names in groups.items():
        having = [r for r in finished if all(n in r.hyperparameters for n in names)]
        measured = [n for n in always if len({json.dumps(r.hyperparameters.get(n)) for r in having}) > 1]
        sections.append((f"the {len(having)} trials with {label}", _importance(having, [*measured, *names], names, space)))
    return [(label, values) for label, values in sections if values]


def _importance(records: list[TrialRecord], params: list[str], shown: list[str], space: SearchSpace) -> dict[str, float]:
    """PED-ANOVA over `records` and `params` (every record has them all), reporting `shown`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if len(records) < 3 or not params:
        return {}
    distributions = {k: v for k, v in space.optuna_distributions().items() if k in params}
    study = optuna.create_study(direction="maximize" if space.mode == "max" else "minimize")
    for r in records:
        values = {k: space.parameters[k].encode(r.hyperparameters[k]) for k in params if k in r.hyperparameters}
        if set(values) == set(params):
            study.add_trial(optuna.trial.create_trial(params=values, distributions=distributions, value=r.best))
    if len(study.trials) < 3:
        return {}
    try:
        with warnings.catch_warnings():  # "importances will be equal": said by the plot, not the terminal
            warnings.simplefilter("ignore", UserWarning)
            importance = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except (RuntimeError, ValueError):  # e.g. every trial has the same value
        return {}
    if len(set(np.round(list(importance.values()), 9))) < 2 and len(importance) > 1:
        return {}  # every parameter scored alike: the trials tied, and a ranking drawn from ties says nothing
    return {k: v for k, v in importance.items() if k in shown}


def plot_importance(sections: list[tuple[str, dict[str, float]]], path: Path) -> Path:
    plt = _pyplot()
    heights = [0.4 * max(len(values), 2) + 0.8 for _, values in sections]
    fig, axes = plt.subplots(len(sections), 1, figsize=(7, sum(heights) + 0.5), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (label, importance) in zip(axes[:, 0], sections):
        names = list(importance)[::-1]
        ax.barh(names, [importance[n] for n in names], color="tab:blue")
        ax.set_title(label, fontsize=9)
    axes[-1, 0].set_xlabel("importance (PED-ANOVA)")
    fig.suptitle("Hyperparameter importance")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


# Below this many negatives a log false-positive axis would start at 1/n, a few ticks from 1: a linear one shows more.
LOG_AXIS_NEGATIVES = 100


def plot_roc_det(evaluation: Evaluation, path: Path, axes: ScoreAxes) -> Path:
    """ROC and DET of the model against every baseline, in the task kind's terms (`axes`). The ROC's
    false-positive axis is logarithmic from 1 / (number of negatives), below which nothing was
    measured, or linear for a small test set; the DET has normal-deviate axes. Each curve marks its
    EER point (o) and, for verification, its point at the operating FAR (s); the legend says so, and
    names a system the DET cannot draw (no point with both error rates inside (0, 1)) with the reason."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    fig, (roc_ax, det_ax) = plt.subplots(1, 2, figsize=(11, 4.8))
    probit = np.vectorize(NormalDist().inv_cdf, otypes=[float])
    negatives = min(len(neg) for _, neg in evaluation.scores.values())
    floor, positive_floor = 1.0 / negatives, 1.0 / min(len(pos) for pos, _ in evaluation.scores.values())
    log_axis = negatives >= LOG_AXIS_NEGATIVES
    rate = axes.operating_rate if axes.operating_rate and axes.operating_rate * negatives >= 1 else None
    for index, (name, (pos, neg)) in enumerate(evaluation.scores.items()):
        curve = roc_curve(pos, neg)
        style, colour = ("-" if index == 0 else "--"), f"C{index}"
        roc_ax.plot(np.clip(curve.fpr, floor, 1) if log_axis else curve.fpr, curve.tpr, style, color=colour, label=name)
        fnr = 1 - curve.tpr
        keep = (curve.fpr > 0) & (curve.fpr < 1) & (fnr > 0) & (fnr < 1)
        det_label = name if keep.any() else f"{name}: not drawn, no point with both rates in (0, 1)"
        det_ax.plot(probit(curve.fpr[keep]), probit(fnr[keep]), style, color=colour, label=det_label)
        eer, _ = equal_error_rate(curve)
        roc_ax.plot([max(eer, floor) if log_axis else eer], [1 - eer], "o", color=colour, markersize=5)
        if 0 < eer < 1:
            det_ax.plot([probit(eer)], [probit(eer)], "o", color=colour, markersize=5)
        if rate is not None:
            tar = tpr_at_fpr(curve, rate)
            roc_ax.plot([rate], [tar], "s", color=colour, markersize=5)
            if 0 < tar < 1:
                det_ax.plot([probit(rate)], [probit(1 - tar)], "s", color=colour, markersize=5)
    markers = [Line2D([], [], marker="o", color="grey", linestyle="", label="EER point")]
    if rate is not None:
        markers.append(Line2D([], [], marker="s", color="grey", linestyle="", label=f"{axes.operating_name} = {rate:g}"))
    if log_axis:
        roc_ax.set_xscale("log")
        roc_ax.set_xlim(left=floor, right=1)
    else:
        roc_ax.set_xlim(0, 1)
    roc_ax.set_xlabel(axes.false_positive)
    roc_ax.set_ylabel(axes.true_positive)
    roc_ax.set_title(f"ROC on the test data ({negatives} {axes.negatives})", fontsize=10)
    roc_ax.legend(handles=roc_ax.get_legend_handles_labels()[0] + markers, fontsize=8)
    ticks = np.array([t for t in (1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5, 0.8) if min(floor, positive_floor) / 2 <= t])
    det_ax.set_xticks(probit(ticks), [f"{t:g}" for t in ticks])
    det_ax.set_yticks(probit(ticks), [f"{t:g}" for t in ticks])
    det_ax.set_xlim(probit(min(floor, 0.5) / 2), probit(0.95))
    det_ax.set_ylim(probit(min(positive_floor, 0.5) / 2), probit(0.95))
    det_ax.set_xlabel(axes.false_positive)
    det_ax.set_ylabel(axes.false_negative)
    det_ax.set_title("DET on the test data (normal-deviate axes)", fontsize=10)
    det_ax.legend(handles=det_ax.get_legend_handles_labels()[0] + markers, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def verdict_lines(verdict: dict[str, Any] | None) -> list[str]:
    """The verdict as report lines: its summary, then a table per baseline."""
    if verdict is None:
        return []
    metric = verdict["metric"]
    lines = [f"**Verdict.** {verdict['summary']}", "",
             f"| baseline | model's test {metric} | baseline's test {metric} | model - baseline | "
             f"95% CI of model - baseline ({verdict['resamples']} resamples of {verdict['unit']}) | outcome |",
             "|---|---|---|---|---|---|"]
    for name, e in verdict["baselines"].items():
        lines.append(f"| {name} | {e['model']:.4f} | {e['baseline']:.4f} | {e['difference']:+.4f} | "
                     f"{e['ci95'][0]:+.4f} .. {e['ci95'][1]:+.4f} | {e['outcome']} |")
    return lines + ["", f"Metric: test `{verdict['metric']}` ({verdict['mode']})."]


def over_defaults_lines(gain: dict[str, Any] | None, search: dict[str, Any]) -> list[str]:
    """What the search added over its defaults (faceauth.tuning.over_defaults), and what it trained."""
    if not gain:
        return []
    answered = search.get("suggestions_answered_without_training") or 0
    trained = (f"{search['trials']} distinct configurations were trained"
               + (f"; {answered} suggestions repeated one of them and were answered from the study without training"
                  if answered else "") + (" (the search space has no other configuration)" if search.get("space_exhausted") else ""))
    return ["## What the search added over its defaults", "", gain["summary"], "",
            "The defaults are the search space's first point; both models were finished the same way and scored on the "
            "same test data, with the verdict's bootstrap interval. " + trained + ".", ""]


def deployment_lines(deployment: dict[str, Any]) -> list[str]:
    """The deployment facts as list items; a hyperparameter the model's shape does not follow (e.g.
    out_dim) with the size the model has."""
    lines = [f"- {k}: {v}" for k, v in deployment.items() if k not in ("operating_point", "shape_notes")]
    return lines + [f"- {k}: {note}" for k, note in deployment.get("shape_notes", {}).items()]


def operating_point_lines(point: dict[str, Any] | None) -> list[str]:
    if not point:
        return []
    lines = ["", f"**{point['summary']}** Rule: {point['rule']}; test intervals: {point['test']['bootstrap']}."]
    lines += [f"WARNING: {point[k]}." if k == "warning" else f"Note: {point[k]}." for k in ("warning", "note") if k in point]
    return lines


def benchmark_lines(benchmarks: dict[str, Any]) -> list[str]:
    """The verification benchmarks (test figures only) as report lines: per benchmark a table of the
    10-fold accuracy ± std, EER and ROC AUC of each system, its notes and its verdict."""
    if not benchmarks:
        return []
    first = next(iter(benchmarks.values()))
    lines = ["### Verification benchmarks", "",
             f"Test figures only, never used for training or selection: {first['embedding']}; {first['threshold']}.", ""]
    for name, result in benchmarks.items():
        lines += [f"**{name}**: {result['pairs']} pairs ({result['genuine_pairs']} genuine, {result['impostor_pairs']} "
                  f"impostor), {result['folds']}.", "",
                  "| system | 10-fold accuracy (%) | EER | ROC AUC |", "|---|---|---|---|"]
        lines += [f"| {system} | {100 * f['accuracy_10fold']:.2f} ± {100 * f['accuracy_10fold_std']:.2f} | "
                  f"{number_cell(f['eer'])} | {number_cell(f['roc_auc'])} |" for system, f in result["systems"].items()]
        lines += ["", *[f"- {note}" for note in result["notes"]], f"**Verdict.** {result['verdict']['summary']}", ""]
    return lines


def _table(metrics: dict[str, dict[str, float]]) -> str:
    """Metric rows, one column per system. Thresholds are each system's own, on its own score scale (a
    probability, a logit, a cosine): they are not compared side by side but listed below the table."""
    systems = list(metrics)
    keys = [k for k in next(iter(metrics.values())) if k != "threshold"]
    lines = ["| test metric | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(number_cell(metrics[s].get(key, float("nan"))) for s in systems) + " |")
    note = threshold_note(metrics)
    return "\n".join(lines + (["", note] if note else []))


def importance_lines(importance: list, saturated: bool) -> list[str]:
    """The importance section: the plot, or why there is none (too few trials, or trials that tie on
    the objective: a ranking drawn from ties would rank noise)."""
    if not importance:
        return ["Hyperparameter importance needs at least three finished trials with differing values.", ""]
    if saturated:
        return ["## Hyperparameter importance", "",
                "Not drawn: most trials tie on the objective (see the warning above), and an importance ranking "
                "drawn from ties would rank noise.", ""]
    return ["## Hyperparameter importance", "",
            "Optuna's PED-ANOVA evaluator over the trials that reported the metric (each at its best epoch); "
            "a conditional parameter only over the trials where it was active.", "",
            "![importance](importance.png)", ""]


def write_report(best_dir: Path, records: list[TrialRecord], space: SearchSpace, best: BestResult,
                 protocol_lines: list[str] | None = None, sections: list[str] | None = None) -> Path:
    """report.md plus history.png, importance.png and roc_det.png beside it; `protocol_lines`: the
    per-fold section of a protocol search, right after the verdict; `sections`: more lines after the
    best trial (e.g. the Pareto front)."""
    plot_history(records, space, best_dir / "history.png")
    importance = parameter_importance(records, space)
    if importance and not best.search.get("saturation"):
        plot_importance(importance, best_dir / "importance.png")
    plot_roc_det(best.evaluation, best_dir / "roc_det.png", SCORE_AXES[best.kind])

    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    search = best.search
    notes = best.deployment.get("shape_notes", {})  # a hyperparameter the model's shape does not follow
    status_text = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
    lines = [
        f"# {best.task} search `{search['name']}`",
        "",
        *verdict_lines(best.verdict),
        "",
        *over_defaults_lines(best.extra.get("over_defaults"), search),
        *([f"**{search['saturation']}**", ""] if search.get("saturation") else []),
        *(protocol_lines or []),
        f"{len(records)} trials ({status_text}) "
        f"in {search['wall_time_s']:.0f} s; optimising validation `{space.metric}` ({space.mode}) with "
        f"Optuna TPE (seed {search['seed']}) and {search['scheduler']} scheduling.",
        "",
        f"## Best trial `{best.trial_name}` (epoch {best.best_epoch})",
        "",
        "| hyperparameter | value |",
        "|---|---|",
        *[f"| {k} | {hyperparameter_value(v)}" + (f" ({notes[k]})" if k in notes else "") + " |"
          for k, v in best.hyperparameters.items()],
        "",
        f"Validation `{space.metric}`: {best.val[space.metric]:.4f}.",
        "",
        "### Test data (never seen by the search)",
        "",
        f"The exported model was fitted on the {best.test_data.get('model_fitted_on', 'training data')}; the "
        "validation figure above is from model selection, on the validation data.",
        "",
        _table({"model": best.test, **best.test_baselines}),
        "",
        f"Test data: {best.test_data.get('data', '')}; "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in best.test_data.items() if k != "data") + ".",
        "",
        "![ROC and DET](roc_det.png)",
        "",
        *benchmark_lines(best.evaluation.benchmarks),
        *(sections or []),
        "## Optimisation history",
        "",
        "![history](history.png)",
        "",
    ]
    lines += importance_lines(importance, bool(search.get("saturation")))
    lines += [
        "## Export",
        "",
        f"`model.onnx`: onnxruntime matches torch within {best.onnx['max_abs_diff']:.2e} (max abs, tolerance "
        f"{best.onnx['tolerance']}) on inputs {best.onnx['checked_input_shapes']}.",
        "",
        *deployment_lines(best.deployment),
        *operating_point_lines(best.deployment.get("operating_point")),
        "",
        "Every trial: `../trials.parquet`. Re-run the best: `python -m faceauth.train --config config.yaml`.",
    ]
    path = best_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def saturation_warning(records: list[TrialRecord], space: SearchSpace, metric_names: tuple[str, ...]) -> str | None:
    """When most finished trials keep the same value of the objective (all at its limit, validation TAR
    1.0 or EER 0.0, or all at one model such as a closed-form start), the search cannot tell them apart
    on it: say so, and name the metric the trials' kept models differ on most (or that none does), so
    that the next search optimises something the data can still tell."""
    values = [r.best for r in records if r.best is not None]
    if len(values) < 3:
        return None
    shared, tied = Counter(round(v, 9) for v in values).most_common(1)[0]
    if tied * 2 <= len(values):
        return None
    limit = 1.0 if space.mode == "max" else 0.0
    where = "the metric's limit" if abs(shared - limit) < 1e-9 else "one value"
    best = max(values) if space.mode == "max" else min(values)
    text = (f"WARNING: {tied} of {len(values)} trials kept validation {space.metric} {shared:.4f} ({where}): the search "
            "cannot tell them apart on it" + (", and its pick among them is arbitrary." if abs(shared - best) < 1e-9 else "."))
    spread = {}
    for name in metric_names:
        if name in (space.metric, "threshold"):
            continue
        kept = {round(r.kept[name], 6) for r in records  # among the tied trials: the ones to tell apart
                if r.best is not None and abs(r.best - shared) < 1e-9 and name in r.kept}  # kept: finite numbers only
        if len(kept) > 1:
            spread[name] = len(kept)
    if not spread:
        return text + " No metric the trials report tells them apart: validation data with more identities, " \
                      "videos or harder cases would."
    name = max(spread, key=lambda m: (spread[m], m))
    mode = "max" if higher_is_better(name) else "min"
    return text + (f" Their kept models differ on {name} ({spread[name]} distinct values among them): search on it with "
                   f"--objective {name}:{mode}.")

