"""How metrics are shown on the terminal: one line of metrics, and a table of the model beside its baselines."""

from __future__ import annotations

import textwrap
from typing import Any



# How the commands name themselves in help and messages: `faceauth train` when run through the
# `faceauth` command (or `python -m faceauth`), `python -m faceauth.train` when run as a module.
_command_prefix = "python -m faceauth."


def set_command_prefix(prefix: str) -> None:
    global _command_prefix
    _command_prefix = prefix


def prog(command: str) -> str:
    return f"{_command_prefix}{command}"


def format_metrics(metrics: dict[str, Any], keys: tuple[str, ...] | None = None) -> str:
    keys = keys or tuple(metrics)
    return "  ".join(f"{k} {number_cell(metrics[k])}" if isinstance(metrics[k], (float, type(None))) else f"{k} {metrics[k]}"
                     for k in keys if k in metrics)


TERMINAL_WIDTH = 120


def fit_width(text: str, width: int = TERMINAL_WIDTH, indent: str = "    ") -> str:
    """`text` with every line longer than `width` broken at spaces into lines of at most `width`. A line
    of `format_metrics` pairs breaks only between pairs (two spaces), and its continuation is indented;
    elsewhere a number stays beside the word before it. Table rows ("| ... |") and words longer than a
    line stay whole."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width or line.lstrip().startswith("|"):
            lines.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip())]
        sep = "  " if "  " in line.strip() else " "
        continued = lead + (indent if sep == "  " else "")
        current = ""
        words: list[str] = []
        for word in line.strip().split(sep):  # a value stays beside its name ("depth 18", "lr 0.001")
            if sep == " " and words and word[:1] in "0123456789[-+":
                words[-1] += " " + word
            else:
                words.append(word)
        for word in words:
            if current and len(current) + len(sep) + len(word) > width:
                lines.append(current)
                current = continued + word
            else:
                current = current + sep + word if current else lead + word
        lines.append(current)
    return "\n".join(lines)


def evaluation_table(metrics: dict[str, dict[str, Any]]) -> str:
    """The model's and the baselines' metrics (system -> metrics, the model first) side by side; their
    thresholds below (threshold_note)."""
    systems = list(metrics)
    keys = [k for k in next(iter(metrics.values())) if k != "threshold"]
    width = max(len(k) for k in keys) + 2
    lines = [" " * width + "".join(f"{s:>20}" for s in systems)]
    for key in keys:
        lines.append(f"{key:<{width}}" + "".join(f"{number_cell(metrics[s].get(key)):>20}" for s in systems))
    note = threshold_note(metrics)
    return "\n".join(lines + ([textwrap.fill(note, 120)] if note else []))


def threshold_note(metrics: dict[str, dict[str, Any]]) -> str:
    """Each system's decision threshold is on its own score scale (a probability, a logit, a cosine),
    so thresholds are listed, never set side by side in a table as if comparable."""
    found = [f"{s} {m['threshold']:.4g}" for s, m in metrics.items() if isinstance(m.get("threshold"), (int, float))]
    return ("Decision thresholds, each on its own system's score scale (not comparable across systems): "
            + ", ".join(found) + ".") if found else ""


def benchmark_table(name: str, result: dict[str, Any], width: int = 120) -> str:
    """One verification benchmark (faceauth.tasks.fusion.benchmark_scores): a row per system with the
    10-fold accuracy in percent as the field quotes it, the notes and the verdict, within `width` columns."""
    fars = [key.removeprefix("tar_at_far_") for key in next(iter(result["systems"].values())) if key.startswith("tar_at_far_")]
    header = (f"{name}: {result['pairs']} pairs ({result['genuine_pairs']} genuine, {result['impostor_pairs']} impostor), "
              f"{result['folds']}")
    lines = textwrap.wrap(header, width)
    lines.append(f"  {'system':<20}{'10-fold accuracy':>20}{'EER':>10}{'ROC AUC':>10}" + "".join(f"{'TAR@FAR=' + far:>14}" for far in fars))
    for system, figures in result["systems"].items():
        accuracy = f"{100 * figures['accuracy_10fold']:.2f} ± {100 * figures['accuracy_10fold_std']:.2f} %"
        lines.append(f"  {system:<20}{accuracy:>20}{number_cell(figures['eer']):>10}{number_cell(figures['roc_auc']):>10}"
                     + "".join(f"{number_cell(figures['tar_at_far_' + far]):>14}" for far in fars))
    for text in (*result["notes"], f"How: {result['embedding']}; {result['threshold']}.", result["verdict"]["summary"]):
        lines += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


def number_cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def hyperparameter_value(value: Any) -> str:
    """A sampled value as a person reads it: floats to 4 significant digits (0.0061, not
    0.006130894464763302; 0.15, not 0.15000000000000002), the rest as they are."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hyperparameter_value(v) for v in value) + "]"
    return str(value)


def format_hyperparameters(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {hyperparameter_value(v)}" for k, v in values.items())
