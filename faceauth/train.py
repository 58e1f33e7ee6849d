"""Train one model, no search: `python -m faceauth.train fusion --synthetic --epochs 30`.

Also re-runs a search's best trial: `python -m faceauth.train --config runs/NAME/best/config.yaml`.
"""

from __future__ import annotations

import argparse
import sys

from faceauth import make_callable_module
from faceauth.commands.cli import HelpFormatter, add_common_train_flags, exits_cleanly, show_config_defaults, task_flags_epilog
from faceauth.io.formatting import benchmark_table, evaluation_table, fit_width, format_metrics, prog
from faceauth.tasks import get_task, list_tasks
from faceauth.training.config import TrainConfig
from faceauth.workflows.config import task_name_from
from faceauth.workflows.protocols import fold_table
from faceauth.workflows.train import train_once  # noqa: F401 (faceauth.train.train_once, as before)
from faceauth.workflows.training_run import ProtocolTrainResult, TrainRequest, TrainResult, run_training


def parse_args(argv: list[str] | None) -> TrainRequest:
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
    return TrainRequest(task.name, args.config, flags, args.smoke_test)


def print_run(result: TrainResult) -> None:
    evaluation, metrics = result.evaluation, result.metrics
    print()
    if metrics["verdict"]:
        print(fit_width(metrics["verdict"]["summary"]))
    print(fit_width(f"best epoch {metrics['best_epoch']}: val {format_metrics(metrics['val'])}"))
    print(f"test ({evaluation.details.get('data', '')}; model fitted on the "
          f"{evaluation.details.get('model_fitted_on', 'training data')}):")
    print(evaluation_table(evaluation.metrics))
    for name, figures in evaluation.benchmarks.items():
        print(benchmark_table(name, figures))
    print(fit_width(f"model: {result.model_path}   results: {', '.join(map(str, result.written))}   log: {result.log_path}   "
                    f"({result.wall_time_s:.1f}s)"))


def print_protocol_run(result: ProtocolTrainResult) -> None:
    print()
    if result.verdict:
        print(fit_width(result.verdict["summary"]))
    print(f"\nprotocol {result.protocol}: test side of each fold (95% bootstrap intervals over items)")
    print(fold_table(result.results))
    print(f"fold models: {result.folder / 'folds'}/<fold>/   results: {', '.join(map(str, result.written))}   "
          f"({result.wall_time_s:.1f}s)")


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    result = run_training(parse_args(argv))
    if isinstance(result, ProtocolTrainResult):
        print_protocol_run(result)
    else:
        print_run(result)
    return 0


make_callable_module(__name__)  # faceauth.train(...) calls faceauth.api.train

if __name__ == "__main__":
    sys.exit(main())
