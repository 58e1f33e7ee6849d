"""Several objectives and constraints: parsing `METRIC:MODE` and `METRIC<=VALUE`, feasibility, the
Pareto front, its knee and its hypervolume. Pure functions on plain numbers, used by the search, its
report and the benchmarks.

The knee rule (`--pick knee`): each objective is scaled over the front to [0, 1], 0 its best value on
the front and 1 its worst; the knee is the front's point nearest (Euclidean) to the ideal point where
every scaled objective is 0. A front of one point is its own knee; ties go to the better primary
(first) objective.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

from faceauth.evaluation.cost import COST_KEYS
from faceauth.io.errors import FaceauthError
from faceauth.training.fit import Objective

_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.\-]+?)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    bound: float

    def violation(self, values: dict[str, Any]) -> float:
        """<= 0 when met (Optuna's convention); inf when the trial did not report the metric."""
        value = values.get(self.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return math.inf
        return value - self.bound if self.op == "<=" else self.bound - value

    def holds(self, values: dict[str, Any]) -> bool:
        return self.violation(values) <= 0

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def known_metrics(task_metrics: Sequence[str]) -> tuple[str, ...]:
    return (*task_metrics, *COST_KEYS)


def parse_objective(text: Any, task_metrics: Sequence[str], where: str) -> Objective:
    """`eer:min` (or a mapping {metric: eer, mode: min}) -> Objective, checked against what trials report."""
    if isinstance(text, dict) and set(text) == {"metric", "mode"}:
        metric, mode = text["metric"], text["mode"]
    elif isinstance(text, str) and text.count(":") == 1:
        metric, mode = (part.strip() for part in text.split(":"))
    else:
        raise FaceauthError(f"{where}: objective {text!r} must be METRIC:MODE, e.g. eer:min or onnx_latency_ms:min")
    if metric not in known_metrics(task_metrics):
        raise FaceauthError(f"{where}: objective metric '{metric}' is not one the trials report; choose one of "
                            f"{', '.join(known_metrics(task_metrics))}")
    if mode not in ("min", "max"):
        raise FaceauthError(f"{where}: objective '{metric}' mode must be min or max, got {mode!r}")
    return Objective(metric, mode)


def parse_constraint(text: Any, task_metrics: Sequence[str], where: str) -> Constraint:
    """`onnx_latency_ms<=2.5` -> Constraint, checked against what trials report."""
    match = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if not match:
        raise FaceauthError(f"{where}: constraint {text!r} must be METRIC<=VALUE or METRIC>=VALUE, "
                            "e.g. \"onnx_latency_ms<=2.5\" (quote it in a shell)")
    metric, op, bound = match.groups()
    try:
        value = float(bound)
    except ValueError:
        raise FaceauthError(f"{where}: constraint {text!r}: {bound!r} is not a number") from None
    if not math.isfinite(value):
        raise FaceauthError(f"{where}: constraint {text!r} needs a finite bound")
    if metric not in known_metrics(task_metrics):
        raise FaceauthError(f"{where}: constraint metric '{metric}' is not one the trials report; choose one of "
                            f"{', '.join(known_metrics(task_metrics))}")
    return Constraint(metric, op, value)


def primary_objective(objectives: Sequence[Objective], task_metrics: Sequence[str], where: str) -> Objective:
    """The accuracy objective: the first that is a task metric. Early stopping (ASHA) and the default
    pick (`best/`) use it."""
    for objective in objectives:
        if objective.metric in task_metrics:
            return objective
    raise FaceauthError(f"{where}: at least one objective must be an accuracy metric of the task "
                        f"({', '.join(task_metrics)}); early stopping and best/ rank trials by it")


def check_objectives(objectives: Sequence[Objective], where: str) -> None:
    names = [o.metric for o in objectives]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FaceauthError(f"{where}: objective(s) {', '.join(duplicated)} named more than once")


def _oriented(point: Sequence[float], modes: Sequence[str]) -> tuple[float, ...]:
    """Every objective turned into one to minimise."""
    return tuple(v if m == "min" else -v for v, m in zip(point, modes))


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    a, b = _oriented(a, modes), _oriented(b, modes)
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates (duplicates of a front point all stay)."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, modes) for j, q in enumerate(points) if j != i)]


def knee(points: Sequence[Sequence[float]], modes: Sequence[str]) -> int:
    """Index (into `points`) of the knee of their Pareto front, by the rule in this module's docstring."""
    front = pareto_front(points, modes)
    if not front:
        raise ValueError("no points")
    oriented = [_oriented(points[i], modes) for i in front]
    lows = [min(p[k] for p in oriented) for k in range(len(modes))]
    highs = [max(p[k] for p in oriented) for k in range(len(modes))]
    scaled = [[(p[k] - lows[k]) / (highs[k] - lows[k]) if highs[k] > lows[k] else 0.0 for k in range(len(modes))]
              for p in oriented]
    distances = [math.sqrt(sum(x * x for x in s)) for s in scaled]
    return front[min(range(len(front)), key=lambda i: (distances[i], oriented[i][0]))]


def hypervolume_2d(points: Sequence[Sequence[float]], modes: Sequence[str], reference: Sequence[float]) -> float:
    """The area dominated by `points` (two objectives) and bounded by `reference` (a point every
    objective's worst value should reach): larger is a better front."""
    ref = _oriented(reference, modes)
    oriented = sorted({_oriented(p, modes) for p in points if all(a < b for a, b in zip(_oriented(p, modes), ref))})
    area, best_y = 0.0, ref[1]
    for x, y in oriented:  # ascending in the first objective
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area
