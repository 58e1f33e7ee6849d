"""Whole steps the entry points and the search share: one training run, evaluation, ONNX export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from faceauth.checkpoint import save_checkpoint
from faceauth.config import TrainConfig, to_dict
from faceauth.errors import FaceauthError
from faceauth.onnx_export import export_onnx, onnx_parity
from faceauth.runlog import ExperimentLog
from faceauth.session import LocalSession, use_session
from faceauth.tasks import Evaluation, Task


def format_metrics(metrics: dict[str, Any], keys: tuple[str, ...] | None = None) -> str:
    keys = keys or tuple(metrics)
    return "  ".join(f"{k} {_cell(metrics[k])}" if isinstance(metrics[k], (float, type(None))) else f"{k} {metrics[k]}"
                     for k in keys if k in metrics)


def finalize(task: Task, checkpoint: dict[str, Any]) -> tuple[dict[str, Any], Evaluation, dict[str, Any] | None]:
    """After model selection: refit on training + validation data (where the task has it and the
    config's `refit` is on), evaluate on the test data beside the baselines, and the verdict (None when
    the evaluation has no groups to bootstrap over)."""
    from faceauth.verdict import build_verdict

    if task.refit is not None and checkpoint["config"].get("refit", True):
        checkpoint = task.refit(checkpoint)
    evaluation = evaluate(task, checkpoint)
    verdict = build_verdict(evaluation, task.objective, task.verdict_advice) if evaluation.groups is not None else None
    return checkpoint, evaluation, verdict


def train_once(task: Task, config: TrainConfig, verbose: bool = True) -> dict[str, Any]:
    """One standalone run (no Ray): trains, refits and evaluates on the test data with the verdict
    (`finalize`), logs to logs/experiments/, writes the model to the config's output path. Returns
    {"checkpoint", "evaluation", "verdict", "history", "log_path", "output_path", "wall_time_s"}."""
    log = ExperimentLog(config.log_dir, task.name, to_dict(config), config.seed)
    objective = task.objective

    def on_report(metrics: dict[str, Any], improved: bool) -> None:
        log.epoch(metrics)
        if improved:  # the best so far is on disk as training goes: an interrupted run keeps it
            save_checkpoint({k: v for k, v in session.last_checkpoint.items() if k not in ("optimizer", "extra")},
                            config.output_path())
        if verbose:
            shown = format_metrics(metrics, tuple(dict.fromkeys(("train_loss", objective.metric, "eer", "acer", "roc_auc"))))
            print(f"epoch {metrics['epoch']:3d}/{config.epochs}  {shown}  {metrics['epoch_time_s']:.2f}s" + ("  *" if improved else ""), flush=True)

    session = LocalSession(on_report)
    started = time.perf_counter()
    with use_session(session):
        task.train_loop(to_dict(config))
    if session.last_checkpoint is None:
        raise FaceauthError(f"{task.name}: training reported no checkpoint")
    selected = session.last_checkpoint
    checkpoint, evaluation, verdict = finalize(task, {k: v for k, v in selected.items() if k not in ("optimizer", "extra")})
    wall = time.perf_counter() - started
    output = save_checkpoint(checkpoint, config.output_path())
    log.finish(best_epoch=selected["epoch"], best_val=selected["metrics"], output=str(output), wall_time_s=wall,
               test=evaluation.metrics, verdict=verdict)
    return {"checkpoint": checkpoint, "evaluation": evaluation, "verdict": verdict, "history": session.history,
            "log_path": log.path, "output_path": output, "wall_time_s": wall}


def rebuild_model(task: Task, checkpoint: dict[str, Any]) -> torch.nn.Module:
    model = task.build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def export_checkpoint(task: Task, checkpoint: dict[str, Any], output_path: str | Path) -> dict[str, Any]:
    """Write ONNX and check it in onnxruntime at other sizes than the export example (batch 2):
    batch 5, and 7 for each further dynamic axis. Raises FaceauthError when parity fails."""
    model = rebuild_model(task, checkpoint)
    spec = task.onnx_spec(checkpoint["model_args"])
    path = export_onnx(model, spec.example_inputs(2, False), output_path, spec.input_names, spec.output_names, spec.dynamic_axes)
    parity = onnx_parity(model, path, dict(zip(spec.input_names, spec.example_inputs(5, True))))
    return {"path": str(path), **parity}


def evaluate(task: Task, checkpoint: dict[str, Any], test_data: str | None = None) -> Evaluation:
    return task.evaluate(checkpoint, test_data)


def evaluation_table(evaluation: Evaluation) -> str:
    systems = list(evaluation.metrics)
    keys = list(evaluation.model_metrics)
    width = max(len(k) for k in keys) + 2
    lines = [" " * width + "".join(f"{s:>20}" for s in systems)]
    for key in keys:
        lines.append(f"{key:<{width}}" + "".join(f"{_cell(evaluation.metrics[s].get(key)):>20}" for s in systems))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"
