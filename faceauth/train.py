"""Train one model, no search: `python -m faceauth.train fusion --synthetic --epochs 30`.

Also re-runs a search's best trial: `python -m faceauth.train --config runs/NAME/best/config.yaml`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from faceauth import make_callable_module
from faceauth.cli import (HelpFormatter, add_common_train_flags, exits_cleanly, prog, resolve_config, show_config_defaults,
                          task_flags_epilog, task_name_from)
from faceauth.config import to_dict
from faceauth.log import logger
from faceauth.outputs import check_output, check_output_folder
from faceauth.protocol_run import check_protocol_config, on_protocol, train_protocol_cli
from faceauth.checkpoint import save_checkpoint
from faceauth.config import TrainConfig
from faceauth.errors import FaceauthError
from faceauth.formatting import evaluation_table, format_metrics
from faceauth.runlog import ExperimentLog, atomic_write_text, package_versions, to_jsonable
from faceauth.session import LocalSession, use_session
from faceauth.tasks import Task, get_task, list_tasks
from faceauth.tasks.base import SCORE_SIDES


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict]:
    # Two passes: the task decides which flags exist.
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    named = argv[0] if argv and not argv[0].startswith("-") else None  # the task comes first
    asks_help = any(a in ("-h", "--help") for a in argv)
    task = get_task(task_name_from(named, known.config)) if named or known.config or not asks_help else None

    parser = argparse.ArgumentParser(prog=prog("train"), description=__doc__, formatter_class=HelpFormatter,
                                     epilog=task_flags_epilog("train", task))
    parser.add_argument("task", nargs="?", choices=list_tasks(), help="what to train")
    add_common_train_flags(parser)
    if task is not None:
        task.add_cli_flags(parser)
    parser.add_argument("--smoke-test", action="store_true", help="a few steps on tiny data, to check the set-up")
    show_config_defaults(parser, task.config_cls if task else TrainConfig)
    args = parser.parse_args(argv)  # --help without a task: the common flags and where the task's are; exit 0
    flags = {k: v for k, v in vars(args).items() if k not in ("task", "config", "smoke_test")}
    return argparse.Namespace(task=task, config=args.config, smoke_test=args.smoke_test), flags


def run_training(task: Task, config_file: str | None, flags: dict, smoke_test: bool = False,
                 config: TrainConfig | None = None) -> dict:
    """One training run as the command does it, for the command and for `faceauth.train(...)`: the
    result of `train_once` plus "written" (the metrics and report files beside the model). `config`:
    the one the command already resolved from the same file and flags."""
    config = config or resolve_config(task, config_file, flags, smoke_test)
    check_protocol_config(task, config)
    if on_protocol(task, config):
        raise FaceauthError(f"protocol {config.protocol}: faceauth.train(...) trains one split; train every fold "
                            f"with `faceauth train {task.name} --protocol {config.protocol}`")
    output = config.output_path()
    inputs = [getattr(config, key, None) for key in ("embeddings", "test_data", "data_dir", "data_root", "frame_extractor")]
    for path in (output, *result_paths(output)):  # before training: a wrong output path costs nothing
        check_output(path, "--output", [config_file, *inputs])
    logger.info(f"training {task.name}: {format_metrics(to_dict(config), ('epochs', 'batch_size', 'lr', 'seed'))}")
    result = train_once(task, config)
    return {**result, "written": write_run_results(task, result)}


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args, flags = parse_args(argv)
    config = resolve_config(args.task, args.config, flags, args.smoke_test)
    check_protocol_config(args.task, config)
    if on_protocol(args.task, config):
        return train_protocol_cli(args.task, config)
    result = run_training(args.task, args.config, flags, args.smoke_test, config)
    best, evaluation, verdict, written = result["checkpoint"], result["evaluation"], result["verdict"], result["written"]
    print()
    if verdict:
        print(verdict["summary"])
    print(f"best epoch {best['epoch']}: val {format_metrics(best['metrics'])}")
    print(f"test ({evaluation.details.get('data', '')}; model fitted on the "
          f"{evaluation.details.get('model_fitted_on', 'training data')}):")
    print(evaluation_table(evaluation))
    print(f"model: {result['output_path']}   results: {', '.join(map(str, written))}   log: {result['log_path']}   "
          f"({result['wall_time_s']:.1f}s)")
    return 0


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
    """Beside the model: <name>.metrics.json, <name>.report.md and <name>.roc_det.png."""
    return tuple(output.with_name(output.stem + suffix) for suffix in (".metrics.json", ".report.md", ".roc_det.png"))


def write_run_results(task, result: dict) -> list[Path]:
    """Beside the model: <name>.metrics.json (verdict first) and <name>.report.md with the ROC/DET plot."""
    from faceauth.search.report import _table, plot_roc_det, verdict_lines

    output: Path = result["output_path"]
    checkpoint, evaluation, verdict = result["checkpoint"], result["evaluation"], result["verdict"]
    systems = list(evaluation.metrics)
    metrics = {"task": task.name, "verdict": verdict, "best_epoch": checkpoint["epoch"],
               "val": checkpoint["metrics"], "val_data": "validation data, model as selected (before any refit)",
               "test": evaluation.metrics[systems[0]],
               "test_baselines": {name: evaluation.metrics[name] for name in systems[1:]},
               "test_data": evaluation.details, "deployment": task.deployment_info(checkpoint),
               "versions": package_versions()}
    metrics_path, report_path, plot_path = result_paths(output)
    atomic_write_text(metrics_path, json.dumps(to_jsonable(metrics), indent=2))
    plot = plot_roc_det(evaluation, plot_path, *SCORE_SIDES[task.kind])
    lines = [f"# {task.name} training run", "", *verdict_lines(verdict), "",
             f"Best epoch {checkpoint['epoch']} (validation {task.objective.metric} "
             f"{checkpoint['metrics'][task.objective.metric]:.4f}); the exported model was fitted on the "
             f"{evaluation.details.get('model_fitted_on', 'training data')}.", "",
             "## Test data", "", _table({"model": metrics["test"], **metrics["test_baselines"]}), "",
             "Test data: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in evaluation.details.items()) + ".", "",
             f"![ROC and DET]({plot.name})", "",
             *[f"- {k}: {v}" for k, v in metrics["deployment"].items()]]
    atomic_write_text(report_path, "\n".join(lines) + "\n")
    return [metrics_path, report_path]


make_callable_module(__name__)  # faceauth.train(...) calls faceauth.api.train

if __name__ == "__main__":
    sys.exit(main())
