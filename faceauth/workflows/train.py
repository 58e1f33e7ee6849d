"""One training run without Ray, as `faceauth train` and every benchmark run it: train, refit and
evaluate (the task's finalize), log, write the model and the results beside it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from faceauth.training.checkpoint import save_checkpoint
from faceauth.training.config import TrainConfig, to_dict
from faceauth.io.errors import FaceauthError
from faceauth.io.formatting import format_metrics
from faceauth.io.log import logger
from faceauth.io.outputs import check_output_folder
from faceauth.io.runlog import ExperimentLog, atomic_write_text, package_versions, to_jsonable
from faceauth.training.session import LocalSession, use_session
from faceauth.tasks import Task
from faceauth.tasks.base import SCORE_AXES


def train_once(task: Task, config: TrainConfig, verbose: bool = True) -> dict[str, Any]:
    """One standalone run (no Ray): trains, refits and evaluates on the test data with the verdict
    (`Task.finalize`), logs to logs/experiments/, writes the model to the config's output path. Returns
    {"checkpoint", "evaluation", "verdict", "history", "log_path", "output_path", "wall_time_s"}."""
    check_output_folder(config.log_dir, "--log-dir")
    log = ExperimentLog(config.log_dir, task.name, to_dict(config), config.seed)
    objective = task.objective

    def on_report(metrics: dict[str, Any], improved: bool) -> None:
        log.epoch(metrics)
        if improved:  # the best so far is on disk as training goes: an interrupted run keeps it
            save_checkpoint({k: v for k, v in session.last_checkpoint.items() if k not in ("optimizer", "extra")},
                            config.output_path())
        if verbose:
            shown = format_metrics(metrics, tuple(dict.fromkeys(("train_loss", objective.metric, "eer", "acer", "roc_auc"))))
            logger.info(f"epoch {metrics['epoch']:3d}/{config.epochs}  {shown}  {metrics['epoch_time_s']:.2f}s" + ("  *" if improved else ""))

    session = LocalSession(on_report)
    started = time.perf_counter()
    with use_session(session):
        task.train_loop(config)
    if session.last_checkpoint is None:
        raise FaceauthError(f"{task.name}: training reported no checkpoint")
    selected = session.last_checkpoint
    checkpoint, evaluation, verdict = task.finalize({k: v for k, v in selected.items() if k not in ("optimizer", "extra")})
    wall = time.perf_counter() - started
    output = save_checkpoint(checkpoint, config.output_path())
    log.finish(best_epoch=selected["epoch"], best_val=selected["metrics"], output=str(output), wall_time_s=wall,
               test=evaluation.metrics, verdict=verdict)
    return {"checkpoint": checkpoint, "evaluation": evaluation, "verdict": verdict, "history": session.history,
            "log_path": log.path, "output_path": output, "wall_time_s": wall}


def result_paths(output: Path) -> tuple[Path, Path, Path]:
    """Beside the model: `<name>.metrics.json`, `<name>.report.md` and `<name>.roc_det.png`."""
    return tuple(output.with_name(output.stem + suffix) for suffix in (".metrics.json", ".report.md", ".roc_det.png"))


def write_run_results(task, result: dict) -> tuple[dict[str, Any], list[Path]]:
    """Beside the model: `<name>.metrics.json` (verdict first) and `<name>.report.md` with the ROC/DET plot;
    returns the metrics written and the two paths."""
    from faceauth.tuning.report import _table, benchmark_lines, deployment_lines, plot_roc_det, verdict_lines

    output: Path = result["output_path"]
    checkpoint, evaluation, verdict = result["checkpoint"], result["evaluation"], result["verdict"]
    systems = list(evaluation.metrics)
    metrics = {"task": task.name, "verdict": verdict, "best_epoch": checkpoint["epoch"],
               "val": checkpoint["metrics"], "val_data": "validation data, model as selected (before any refit)",
               "test": evaluation.metrics[systems[0]],
               "test_baselines": {name: evaluation.metrics[name] for name in systems[1:]},
               "test_data": evaluation.details, "deployment": task.deployment_info(checkpoint),
               **({"benchmarks": evaluation.benchmarks} if evaluation.benchmarks else {}),
               "versions": package_versions()}
    metrics_path, report_path, plot_path = result_paths(output)
    metrics = to_jsonable(metrics)  # as the file holds it
    atomic_write_text(metrics_path, json.dumps(metrics, indent=2))
    plot = plot_roc_det(evaluation, plot_path, SCORE_AXES[task.kind])
    lines = [f"# {task.name} training run", "", *verdict_lines(verdict), "",
             f"Best epoch {checkpoint['epoch']} (validation {task.objective.metric} "
             f"{checkpoint['metrics'][task.objective.metric]:.4f}); the exported model was fitted on the "
             f"{evaluation.details.get('model_fitted_on', 'training data')}.", "",
             "## Test data", "", _table({"model": metrics["test"], **metrics["test_baselines"]}), "",
             "Test data: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in evaluation.details.items()) + ".", "",
             f"![ROC and DET]({plot.name})", "",
             *benchmark_lines(evaluation.benchmarks),
             *deployment_lines(metrics["deployment"])]
    atomic_write_text(report_path, "\n".join(lines) + "\n")
    return metrics, [metrics_path, report_path]
