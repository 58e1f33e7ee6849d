"""The result of a search with several objectives or constraints: which trials are feasible, the Pareto
front among them, the pick, `pareto/<trial>/` for every front trial and the front plot and table of
report.md.

Each trial is judged by the model it keeps (`TrialRecord.kept`: the report of its kept epoch, with the
deployment cost). A trial is feasible when it reported every objective and meets every constraint;
trials that are not are never picked and never on the front. The pick (`best/`):
- `best` (default): the feasible trial with the best primary (accuracy) objective (ties: the better
  other objectives, in the order given);
- `knee`: the knee of the feasible front (faceauth.tuning.objectives.knee).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceauth.evaluation.cost import COST_KEYS
from faceauth.tuning.best import TrialRecord
from faceauth.tuning.objectives import knee, pareto_front
from faceauth.tuning.space import SearchSpace

PICK_RULES = {
    "best": "the feasible trial with the best validation {metric} ({mode})",
    "knee": "the knee of the feasible front: objectives scaled to [0, 1] over the front (0 = its best value), "
            "the trial nearest the point where all are 0",
}


@dataclass
class FrontResult:
    space: SearchSpace
    rule: str
    usable: list[TrialRecord]  # reported every objective and kept a model
    feasible: list[TrialRecord]
    front: list[TrialRecord]  # Pareto-optimal among the feasible (several objectives only)
    pick: TrialRecord | None
    # trial id -> why it is infeasible
    reasons: dict[str, str] = field(default_factory=dict)

    def columns(self) -> dict[str, dict[str, Any]]:
        """Per-trial columns for trials.parquet."""
        feasible = {r.trial_id for r in self.feasible}
        front = {r.trial_id for r in self.front}
        return {r.trial_id: {"feasible": r.trial_id in feasible, "pareto": r.trial_id in front,
                             "picked": self.pick is not None and r.trial_id == self.pick.trial_id,
                             **{f"objective_{o.metric}": r.kept.get(o.metric) for o in self.space.objectives}}
                for r in self.usable}

    def describe_pick(self) -> str:
        return PICK_RULES[self.rule].format(metric=self.space.metric, mode=self.space.mode)


def objective_values(record: TrialRecord, space: SearchSpace) -> list[float]:
    return [record.kept[o.metric] for o in space.objectives]


def analyse(records: list[TrialRecord], space: SearchSpace, rule: str = "best") -> FrontResult:
    usable = [r for r in records if r.checkpoint is not None and all(o.metric in r.kept for o in space.objectives)]
    feasible, reasons = [], {}
    for r in usable:
        broken = [str(c) for c in space.constraints if not c.holds(r.kept)]
        if broken:
            reasons[r.trial_id] = "violates " + ", ".join(broken)
        else:
            feasible.append(r)
    modes = [o.mode for o in space.objectives]
    points = [objective_values(r, space) for r in feasible]
    front = [feasible[i] for i in pareto_front(points, modes)] if space.multi_objective else []
    pick = None
    if feasible:
        if rule == "knee":
            pick = feasible[knee(points, modes)]
        else:
            # Ties on the primary metric go to the better other objectives: the pick is on the front.
            order = [space.metric, *[o.metric for o in space.objectives if o.metric != space.metric]]
            signs = {o.metric: 1 if o.mode == "min" else -1 for o in space.objectives}
            pick = min(feasible, key=lambda r: tuple(signs[m] * r.kept[m] for m in order))
    front.sort(key=lambda r: r.kept[space.metric], reverse=space.mode == "max")
    return FrontResult(space, rule, usable, feasible, front, pick, reasons)


def closest_to_feasible(result: FrontResult) -> str:
    """For the message when nothing is feasible: the trial with the smallest total violation."""
    if not result.usable:
        return "no trial reported every objective with a kept model; see trials.parquet for each trial's status"
    def total(r: TrialRecord) -> float:
        return sum(max(0.0, c.violation(r.kept)) for c in result.space.constraints)
    nearest = min(result.usable, key=total)
    shown = ", ".join(f"{c.metric} {nearest.kept.get(c.metric, float('nan')):.4g}" for c in result.space.constraints)
    return f"the nearest was trial {nearest.name} ({shown})"


def write_pareto(result: FrontResult, run_dir: Path, finish) -> dict[str, Any]:
    """`pareto/<trial>/` (model.pt, model.onnx, metrics.json with test metrics, config.yaml) for every
    front trial; returns trial id -> finish's BestResult. `finish(record, folder, extra)` is
    best.finish_best bound to the task."""
    done = {}
    shutil.rmtree(run_dir / "pareto", ignore_errors=True)  # a front from an earlier finish of this run
    for record in result.front:
        done[record.trial_id] = finish(record, run_dir / "pareto" / record.name, trial_summary(record, result))
    return done


def trial_summary(record: TrialRecord, result: FrontResult) -> dict[str, Any]:
    """What metrics.json says about the trial's place in the search."""
    space = result.space
    return {
        "objectives": {o.metric: {"mode": o.mode, "value": record.kept.get(o.metric)} for o in space.objectives},
        "constraints": {str(c): c.holds(record.kept) for c in space.constraints},
        "pareto_optimal": any(r.trial_id == record.trial_id for r in result.front),
        "picked": result.pick is not None and record.trial_id == result.pick.trial_id,
        "pick_rule": result.describe_pick(),
    }


def copy_pick(run_dir: Path, trial_name: str, best_dir: Path) -> None:
    """best/ is the picked front trial's folder (replaced whole, written beside and renamed)."""
    staging = best_dir.with_name(best_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(run_dir / "pareto" / trial_name, staging)
    shutil.rmtree(best_dir, ignore_errors=True)
    staging.rename(best_dir)


def _axis_cost(space: SearchSpace) -> str:
    others = [o.metric for o in space.objectives if o.metric != space.metric]
    return others[0] if others else "onnx_latency_ms"


def plot_front(result: FrontResult, path: Path) -> Path:
    """The primary objective against the first other objective (latency by default): every trial,
    the feasible region shaded (constraints on the two plotted metrics), the front and the pick."""
    from faceauth.tuning.report import _pyplot, save_plot

    plt = _pyplot()
    space = result.space
    x_key, y_key = _axis_cost(space), space.metric
    fig, ax = plt.subplots(figsize=(7, 4.5))
    points = [(r.kept.get(x_key), r.kept.get(y_key)) for r in result.usable]
    points = [(x, y) for x, y in points if x is not None and y is not None]
    if points:
        xs, ys = zip(*points)
        pad_x, pad_y = (max(xs) - min(xs)) * 0.08 or abs(xs[0]) * 0.1 or 1.0, (max(ys) - min(ys)) * 0.08 or 0.05
        x_lim, y_lim = (min(xs) - pad_x, max(xs) + pad_x), (min(ys) - pad_y, max(ys) + pad_y)
        for c in space.constraints:
            if c.metric == x_key:
                x_lim = (min(x_lim[0], c.bound - pad_x), max(x_lim[1], c.bound + pad_x))
            if c.metric == y_key:
                y_lim = (min(y_lim[0], c.bound - pad_y), max(y_lim[1], c.bound + pad_y))
        low_x, high_x, low_y, high_y = *x_lim, *y_lim
        for c in space.constraints:
            if c.metric == x_key:
                low_x, high_x = (low_x, min(high_x, c.bound)) if c.op == "<=" else (max(low_x, c.bound), high_x)
            if c.metric == y_key:
                low_y, high_y = (low_y, min(high_y, c.bound)) if c.op == "<=" else (max(low_y, c.bound), high_y)
        for c in space.constraints:
            if c.metric in (x_key, y_key):
                (ax.axvline if c.metric == x_key else ax.axhline)(c.bound, color="tab:green", linestyle="--", linewidth=1)
        if any(c.metric in (x_key, y_key) for c in space.constraints) and low_x < high_x and low_y < high_y:
            ax.fill_between([low_x, high_x], low_y, high_y, color="tab:green", alpha=0.12, label="feasible region")
        ax.set_xlim(*x_lim)
        ax.set_ylim(*y_lim)
    feasible = {r.trial_id for r in result.feasible}
    infeasible = [(r.kept.get(x_key), r.kept.get(y_key)) for r in result.usable if r.trial_id not in feasible]
    if infeasible:
        ax.scatter(*zip(*infeasible), marker="x", color="tab:gray", s=22, label="infeasible trial")
    if result.feasible:
        ax.scatter([r.kept.get(x_key) for r in result.feasible], [r.kept.get(y_key) for r in result.feasible],
                   color="tab:blue", s=20, label="feasible trial")
    if result.front:
        ordered = sorted(result.front, key=lambda r: r.kept.get(x_key))
        ax.plot([r.kept.get(x_key) for r in ordered], [r.kept.get(y_key) for r in ordered], "-o",
                color="tab:orange", markersize=5, label="Pareto front")
    if result.pick is not None:
        ax.scatter([result.pick.kept.get(x_key)], [result.pick.kept.get(y_key)], marker="*", s=260, color="tab:red",
                   edgecolor="black", zorder=5, label=f"pick ({result.rule}): {result.pick.name}")
    return save_plot(fig, ax, path, x_key + (" (median, batch 1, 1 CPU thread)" if x_key == "onnx_latency_ms" else ""),
                     f"validation {y_key} ({space.mode})", "Accuracy against deployment cost")


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else str(value)


def front_section(result: FrontResult, pareto: dict[str, Any], plot_name: str = "front.png") -> list[str]:
    """The report's lines: the plot, the pick rule and a table of the front (test figures too)."""
    space = result.space
    names = [o.metric for o in space.objectives]
    extra = [k for k in COST_KEYS if k not in names]
    constraints = ", ".join(f"`{c}`" for c in space.constraints) or "none"
    lines = ["## Accuracy against deployment cost", "",
             f"Objectives: {', '.join(f'`{o.metric}` ({o.mode})' for o in space.objectives)}; constraints: {constraints}. "
             f"{len(result.feasible)} of {len(result.usable)} trials with a model are feasible"
             + (f"; {len(result.front)} on the Pareto front (`../pareto/<trial>/`)." if space.multi_objective else "."),
             f"Pick (`{result.rule}`): {result.describe_pick()}.", "",
             f"![front]({plot_name})", ""]
    if result.front:
        test_key = space.metric
        lines += ["| trial | " + " | ".join(n if n in COST_KEYS else f"val {n}" for n in names) + " | " + " | ".join(extra)
                  + f" | test {test_key} | picked |",
                  "|---" * (len(names) + len(extra) + 3) + "|"]
        for r in result.front:
            shipped = pareto.get(r.trial_id)
            test = shipped.test.get(test_key) if shipped is not None else None
            lines.append(f"| {r.name} | " + " | ".join(_value(r.kept.get(n)) for n in names) + " | "
                         + " | ".join(_value(r.kept.get(k)) for k in extra) + f" | {_value(test)} | "
                         + ("**yes**" if result.pick is not None and r.trial_id == result.pick.trial_id else "") + " |")
        lines.append("")
    lines += ["`onnx_latency_ms` is the median time of one batch-1 call in onnxruntime on one CPU thread of the machine "
              "that ran the search: it ranks trials against each other, it is not a product specification.", ""]
    return lines
