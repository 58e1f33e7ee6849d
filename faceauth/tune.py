"""Search a trainer's hyperparameters with Ray Tune, Optuna (TPE) and ASHA; then evaluate the best
trial on the test split, export it to ONNX and write `runs/<name>/best/`:

    python -m faceauth.tune fusion --trials 50                      # local Ray, synthetic data
    python -m faceauth.tune fusion --embeddings e.parquet --address auto --storage s3://bucket/runs
    python -m faceauth.tune fusion --workers-per-trial 2            # each trial: DDP on 2 workers
    python -m faceauth.tune fusion --name my-search --resume        # continue an interrupted search
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from faceauth.commands.cli import HelpFormatter, add_common_train_flags, exits_cleanly, show_config_defaults, task_flags_epilog
from faceauth.io.formatting import prog
from faceauth.tasks import get_task, list_tasks
from faceauth.training.config import TrainConfig, add_config_flags
from faceauth.tuning.search import SearchRequest, run_search
from faceauth.tuning.space import SEARCH_SPACES_DIR

# The help of each flag; its name, type, choices and default come from SearchRequest's field.
SEARCH_FLAGS = {
    "trials": {"help": "trials in total (default 50; 2 with --smoke-test)"},
    "search_space": {"flag": "search-space", "metavar": "YAML", "help": f"a search-space file (default: {SEARCH_SPACES_DIR}/<task>.yaml)"},
    "seed": {"help": "seeds the TPE sampler and every trial's training (default 0)"},
    "scheduler": {"help": "ASHA early stopping (default) or none"},
    "grace_period": {"help": "ASHA: epochs before a trial can be stopped"},
    "max_concurrent": {"help": "trials at once (default: what the cluster's resources allow)"},
    "time_budget_s": {"help": "stop starting trials after this many seconds"},
    "max_failures": {"help": "retries of a crashed trial from its last checkpoint"},
    "stuck_timeout_s": {"help": "end the search, naming the resources it waited for, when trials wait this long for "
                                "resources while none runs"},
    "smoke_test": {"flag": "smoke-test", "help": "two trials, a few steps, tiny data: checks the whole path"},
    "warm_start": {"metavar": "RUN", "help": "start from an earlier search's trials (the folder runs/<name>) of the same "
                   "task and space: TPE sees them as finished trials before its first suggestion"},
    "objective": {"action": "append", "metavar": "METRIC:MODE",
                  "help": "an objective, repeatable (e.g. --objective eer:min --objective onnx_latency_ms:min); replaces "
                          "the search space's metric/objectives. Metrics: the task's and onnx_latency_ms, params, onnx_bytes"},
    "constraint": {"action": "append", "metavar": "METRIC<=VALUE",
                   "help": "a constraint every picked model meets, repeatable (e.g. \"onnx_latency_ms<=2.5\", "
                           "\"params<=500000\", \"bpcer>=0\"); replaces the search space's constraints"},
    "target_far": {"metavar": "FAR", "help": "verification: ship the model with the threshold whose validation FAR is at "
                   "most this (e.g. 1e-4)"},
    "target_apcer": {"metavar": "APCER", "help": "presentation-attack detection: ship the model with the threshold whose "
                     "validation APCER is at most this (e.g. 0.01)"},
    "pick": {"help": "which feasible trial becomes best/: the best accuracy (default) or the knee of the Pareto front"},
    "verbose": {"help": "also show Ray's, Tune's and Optuna's own INFO lines (hidden by default: the search's lines say "
                "what they say)"},
}
WHERE_FLAGS = {
    "workers_per_trial": {"help": "DDP workers per trial; >1 runs each trial under a Ray Train TorchTrainer (one worker: "
                          "a plain Tune function trial)"},
    "cpus_per_worker": {},
    "gpus_per_worker": {"help": "GPUs per worker, a fraction packs several one-worker trials on a GPU (0.25: four); with "
                        "--workers-per-trial > 1, DDP with nccl"},
    "address": {"help": "join a Ray cluster: auto, ray://host:10001 or host:6379 (default: start a local Ray)"},
    "num_cpus": {"help": "CPUs of the local Ray instance (default: all)"},
    "wait_for_resources_s": {"help": "on an autoscaling cluster: ask for one trial's workers and wait this long for nodes "
                             "to come up"},
    "storage": {"help": "run folder: a local path, a shared mount or a URI such as s3://bucket/runs"},
    "name": {"help": "the run's name (default <task>-<timestamp>); the run lives in <storage>/<name>"},
    "resume": {"help": "continue the search <storage>/<name> where it stopped"},
    "no_dashboard": {"flag": "no-dashboard", "help": "start the local Ray without its dashboard (faster, less memory)"},
    "dashboard_port": {"help": "the local Ray's dashboard port (default 8265, or the next free one)"},
    "metrics_export_port": {"help": "the local Ray's Prometheus metrics port, where the trials' live metrics are scraped "
                            "(default: a free port, listed in /tmp/ray/prom_metrics_service_discovery.json)"},
}
TRACKING_FLAGS = {
    "mlflow": {"nargs": "?", "const": "mlruns", "metavar": "TRACKING_URI",
               "help": "log every trial (hyperparameters, per-epoch metrics) and best/ to MLflow; TRACKING_URI: a "
                       "server (http://...) or a local folder (default ./mlruns)"},
    "mlflow_experiment": {"metavar": "NAME", "help": "the MLflow experiment (default: the search's name)"},
    "wandb": {"metavar": "PROJECT", "help": "log every trial and best/ to this Weights & Biases project "
              "(WANDB_MODE=offline to log locally)"},
}


def parse_args(argv: list[str] | None) -> tuple[SearchRequest, dict]:
    """The request and the training flags given (config keys) from the command line."""
    argv = sys.argv[1:] if argv is None else argv
    named = argv[0] if argv and not argv[0].startswith("-") else None  # the task comes first
    parser, training = build_parser(named)
    given = vars(parser.parse_args(argv))
    flag_names = {a.dest for a in training._group_actions} - {"config"}
    fields = {f.name for f in dataclasses.fields(SearchRequest)}
    request = SearchRequest(task=given["task"], config_file=given.get("config"),
                            **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if k in fields and k != "task"})
    return request, {k: v for k, v in given.items() if k in flag_names}


def build_parser(named: str | None) -> tuple[argparse.ArgumentParser, argparse._ArgumentGroup]:
    """The command's parser (with the task's own flags once it is named) and its training group. The
    search's flags come from SearchRequest's fields; a flag not given keeps the field's default."""
    task = get_task(named) if named in list_tasks() else None
    parser = argparse.ArgumentParser(prog=prog("tune"), description=__doc__, formatter_class=HelpFormatter,
                                     epilog=task_flags_epilog("tune", task) + " Training flags also override the search space's fixed keys.")
    parser.add_argument("task", choices=list_tasks(), help="what to search")
    add_config_flags(parser.add_argument_group("search"), SearchRequest, SEARCH_FLAGS)
    add_config_flags(parser.add_argument_group("where it runs"), SearchRequest, WHERE_FLAGS)
    add_config_flags(parser.add_argument_group("experiment tracking (optional extras: pip install 'faceauth[mlflow]' / "
                                               "'faceauth[wandb]')"), SearchRequest, TRACKING_FLAGS)
    training = parser.add_argument_group("training (override the config file and the search space's fixed keys)")
    add_common_train_flags(training, seed=False)
    if task is not None:
        task.add_cli_flags(training)
    show_config_defaults(parser, task.config_cls if task else TrainConfig)
    show_config_defaults(parser, SearchRequest)
    return parser, training


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    request, flags = parse_args(argv)
    return 0 if run_search(request, flags).finished else 130


if __name__ == "__main__":
    sys.exit(main())
