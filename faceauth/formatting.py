"""How metrics are shown on the terminal: one line of metrics, and a table of the model beside its baselines."""

from __future__ import annotations

from typing import Any

from faceauth.evaluation import Evaluation


def format_metrics(metrics: dict[str, Any], keys: tuple[str, ...] | None = None) -> str:
    keys = keys or tuple(metrics)
    return "  ".join(f"{k} {number_cell(metrics[k])}" if isinstance(metrics[k], (float, type(None))) else f"{k} {metrics[k]}"
                     for k in keys if k in metrics)


def evaluation_table(evaluation: Evaluation) -> str:
    systems = list(evaluation.metrics)
    keys = list(evaluation.model_metrics)
    width = max(len(k) for k in keys) + 2
    lines = [" " * width + "".join(f"{s:>20}" for s in systems)]
    for key in keys:
        lines.append(f"{key:<{width}}" + "".join(f"{number_cell(evaluation.metrics[s].get(key)):>20}" for s in systems))
    return "\n".join(lines)


def number_cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"
