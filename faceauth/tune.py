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
import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from faceauth.commands.cli import (HelpFormatter, add_common_train_flags, config_source, exits_cleanly, prog, resolve_values,
                          show_config_defaults, task_flags_epilog)
from faceauth.training.config import TrainConfig, build_config, config_keys, load_config_file, select_task_values
from faceauth.io.errors import FaceauthError
from faceauth.io.log import logger
from faceauth.io.outputs import check_output_folder
from faceauth.io.formatting import benchmark_table, format_hyperparameters, format_metrics
from faceauth.workflows.protocols import (finish_protocol_search, fold_results, fold_table, on_protocol, plot_folds,
                                   protocol_report_lines)
from faceauth.tuning.best import (BestResult, TrialRecord, best_trial, collect_trials, finalized, finish_best,
                                  load_trial_checkpoint, prune_checkpoints, write_metrics_json, write_trials_table)
from faceauth.tuning.over_defaults import search_gain
from faceauth.tuning.dashboard import dashboard_login_hint, job_config, secure_token_file
from faceauth.io.runlog import to_jsonable
from faceauth.tuning.front import (analyse, closest_to_feasible, copy_pick, front_section, plot_front, trial_summary,
                                   write_pareto)
from faceauth.tuning.report import saturation_warning, write_report
from faceauth.tuning.result import STUDY_FILE, SearchResult, read_study_record
from faceauth.tuning.runner import (SearchOptions, build_tuner, check_resumable, check_trial_node, plan_concurrency,
                                    set_ray_environment, storage_path, wait_for_resources)
from faceauth.tuning.space import SEARCH_SPACES_DIR, SearchSpace, default_space_path, load_search_space, with_objectives
from faceauth.tuning.guard import DEFAULT_STUCK_S, STOPPED_FILE, read_stop_reason
from faceauth.tuning.study_notes import record_best
from faceauth.tuning.tracking import Tracking, log_best_artifacts
from faceauth.tuning.warm_start import warm_start_trials
from faceauth.tuning.storage import (check_same_search, check_shared_storage, publish_run_files, read_settings,
                                     search_settings, write_settings)
from faceauth.tasks import Task, get_task, list_tasks


def parse_args(argv: list[str] | None):
    argv = sys.argv[1:] if argv is None else argv
    named = argv[0] if argv and not argv[0].startswith("-") else None  # the task comes first
    parser, training = build_parser(named)
    args = parser.parse_args(argv)
    flag_names = {a.dest for a in training._group_actions} - {"config"}
    flags = {k: v for k, v in vars(args).items() if k in flag_names}
    return args, flags


def build_parser(named: str | None) -> tuple[argparse.ArgumentParser, argparse._ArgumentGroup]:
    """The command's parser (with the task's own flags once it is named) and its training group."""
    task = get_task(named) if named in list_tasks() else None
    parser = argparse.ArgumentParser(prog=prog("tune"), description=__doc__, formatter_class=HelpFormatter,
                                     epilog=task_flags_epilog("tune", task) + " Training flags also override the search space's fixed keys.")
    parser.add_argument("task", choices=list_tasks(), help="what to search")
    search = parser.add_argument_group("search")
    search.add_argument("--trials", type=int, help="trials in total (default 50; 2 with --smoke-test)")
    search.add_argument("--search-space", metavar="YAML", help=f"a search-space file (default: {SEARCH_SPACES_DIR}/<task>.yaml)")
    search.add_argument("--seed", type=int, help="seeds the TPE sampler and every trial's training (default 0)")
    search.add_argument("--scheduler", choices=("asha", "none"), default="asha", help="ASHA early stopping (default) or none")
    search.add_argument("--grace-period", type=int, default=3, help="ASHA: epochs before a trial can be stopped (default 3)")
    search.add_argument("--max-concurrent", type=int, help="trials at once (default: what the cluster's resources allow)")
    search.add_argument("--time-budget-s", type=float, help="stop starting trials after this many seconds")
    search.add_argument("--max-failures", type=int, default=2, help="retries of a crashed trial from its last checkpoint (default 2)")
    search.add_argument("--stuck-timeout-s", type=float, default=DEFAULT_STUCK_S,
                        help="end the search, naming the resources it waited for, when trials wait this long for "
                             f"resources while none runs (default {DEFAULT_STUCK_S:g})")
    search.add_argument("--smoke-test", action="store_true", help="two trials, a few steps, tiny data: checks the whole path")
    search.add_argument("--warm-start", metavar="RUN", help="start from an earlier search's trials (the folder runs/<name>) "
                        "of the same task and space: TPE sees them as finished trials before its first suggestion")
    search.add_argument("--objective", action="append", metavar="METRIC:MODE",
                        help="an objective, repeatable (e.g. --objective eer:min --objective onnx_latency_ms:min); "
                             "replaces the search space's metric/objectives. Metrics: the task's and onnx_latency_ms, params, onnx_bytes")
    search.add_argument("--constraint", action="append", metavar="METRIC<=VALUE",
                        help="a constraint every picked model meets, repeatable (e.g. \"onnx_latency_ms<=2.5\", "
                             "\"params<=500000\", \"bpcer>=0\"); replaces the search space's constraints")
    search.add_argument("--target-far", type=float, metavar="FAR",
                        help="verification: ship the model with the threshold whose validation FAR is at most this (e.g. 1e-4)")
    search.add_argument("--target-apcer", type=float, metavar="APCER",
                        help="presentation-attack detection: ship the model with the threshold whose validation APCER is at most this (e.g. 0.01)")
    search.add_argument("--pick", choices=("best", "knee"), default="best",
                        help="which feasible trial becomes best/: the best accuracy (default) or the knee of the Pareto front")
    where = parser.add_argument_group("where it runs")
    where.add_argument("--workers-per-trial", type=int, default=1, help="DDP workers per trial; >1 runs each trial under a Ray Train TorchTrainer (one worker: a plain Tune function trial)")
    where.add_argument("--cpus-per-worker", type=float, default=1.0)
    where.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per worker, a fraction packs several one-worker trials on a GPU (0.25: four); with --workers-per-trial > 1, DDP with nccl")
    where.add_argument("--address", help="join a Ray cluster: auto, ray://host:10001 or host:6379 (default: start a local Ray)")
    where.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    where.add_argument("--wait-for-resources-s", type=float, default=0.0,
                       help="on an autoscaling cluster: ask for one trial's workers and wait this long for nodes to come up")
    where.add_argument("--storage", default="runs", help="run folder: a local path, a shared mount or a URI such as s3://bucket/runs")
    where.add_argument("--name", help="the run's name (default <task>-<timestamp>); the run lives in <storage>/<name>")
    where.add_argument("--resume", action="store_true", help="continue the search <storage>/<name> where it stopped")
    where.add_argument("--no-dashboard", action="store_true", help="start the local Ray without its dashboard (faster, less memory)")
    where.add_argument("--dashboard-port", type=int, help="the local Ray's dashboard port (default 8265, or the next free one)")
    where.add_argument("--metrics-export-port", type=int,
                       help="the local Ray's Prometheus metrics port, where the trials' live metrics are scraped "
                            "(default: a free port, listed in /tmp/ray/prom_metrics_service_discovery.json)")
    tracking = parser.add_argument_group("experiment tracking (optional extras: pip install 'faceauth[mlflow]' / 'faceauth[wandb]')")
    tracking.add_argument("--mlflow", nargs="?", const="mlruns", metavar="TRACKING_URI",
                          help="log every trial (hyperparameters, per-epoch metrics) and best/ to MLflow; "
                               "TRACKING_URI: a server (http://...) or a local folder (default ./mlruns)")
    tracking.add_argument("--mlflow-experiment", metavar="NAME", help="the MLflow experiment (default: the search's name)")
    tracking.add_argument("--wandb", metavar="PROJECT",
                          help="log every trial and best/ to this Weights & Biases project (WANDB_MODE=offline to log locally)")
    training = parser.add_argument_group("training (override the config file and the search space's fixed keys)")
    add_common_train_flags(training, seed=False)
    if task is not None:
        task.add_cli_flags(training)
    show_config_defaults(parser, task.config_cls if task else TrainConfig)
    return parser, training


SEARCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def search_options(args, task: Task) -> SearchOptions:
    if args.resume and not args.name:
        raise FaceauthError("--resume needs the --name of the search to continue")
    trials = args.trials if args.trials is not None else (2 if args.smoke_test else 50)
    for flag, value, low in (("--trials", trials, 1), ("--workers-per-trial", args.workers_per_trial, 1),
                             ("--max-failures", args.max_failures, 0), ("--grace-period", args.grace_period, 1)):
        if value < low:
            raise FaceauthError(f"{flag} must be at least {low}, got {value}")
    if args.cpus_per_worker <= 0 or args.gpus_per_worker < 0:
        raise FaceauthError("--cpus-per-worker must be > 0 and --gpus-per-worker >= 0")
    if not args.stuck_timeout_s > 0:
        raise FaceauthError(f"--stuck-timeout-s must be a positive number of seconds, got {args.stuck_timeout_s:g}")
    for flag, port in (("--dashboard-port", args.dashboard_port), ("--metrics-export-port", args.metrics_export_port)):
        if port is not None and args.address:
            raise FaceauthError(f"{flag} sets up a local Ray; a cluster (--address) has its own: `ray start --head {flag} PORT`")
        if port is not None and not 1 <= port <= 65535:
            raise FaceauthError(f"{flag} must be a port number (1-65535), got {port}")
    if args.address:
        check_address(args.address)
    if args.name is not None and not SEARCH_NAME.fullmatch(args.name):
        raise FaceauthError(f"--name {args.name!r}: a search's name is one folder name (<storage>/<name>) of letters, "
                            "digits, '.', '_' and '-', starting with a letter or digit, e.g. --name fusion-margins")
    if "://" not in args.storage or args.storage.startswith("file://"):
        check_output_folder(args.storage.removeprefix("file://"), "--storage")
    name = args.name or f"{task.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    return SearchOptions(
        task=task.name, trials=trials, seed=0 if args.seed is None else args.seed, scheduler=args.scheduler,
        grace_period=1 if args.smoke_test else args.grace_period, max_concurrent=args.max_concurrent,
        time_budget_s=args.time_budget_s, workers_per_trial=args.workers_per_trial,
        cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
        max_failures=args.max_failures, name=name, storage=args.storage, resume=args.resume,
        stuck_timeout_s=args.stuck_timeout_s,
    )


def base_values(args, flags: dict, task: Task, space: SearchSpace) -> dict:
    """Every trial's config before its sampled hyperparameters; synthetic data unless data is named."""
    seed = 0 if args.seed is None else args.seed
    values = resolve_values(task, args.config, {**flags, "seed": seed}, args.smoke_test, defaults=space.fixed)
    if "synthetic" in config_keys(task.config_cls) and not any(values.get(k) for k in ("synthetic", *task.data_keys)):
        values["synthetic"] = True
    return values


def recorded_settings(options: SearchOptions) -> dict | None:
    """A resumed search's recorded settings (checked by the seal first); None for a new search or a
    run from before settings were recorded."""
    check_resumable(options, local_run_dir(options))  # a new search: its name is not taken by another's study
    if not options.resume:
        return None
    return read_settings(f"{storage_path(options.storage)}/{options.name}")


WHERE_IT_RUNS = ("log_dir", "device")  # a resume may change these: they do not change what a trial computes


def resumed_base(args, flags: dict, task: Task, recorded: dict, run_uri: str) -> dict:
    """A resume trains the remaining trials with the config the search started with; a flag or
    config file given again must agree with it."""
    base = recorded["base"]
    given = dict(flags)
    if args.seed is not None:
        given["seed"] = args.seed
    if args.config:
        given.update(select_task_values(load_config_file(args.config), task.name, list_tasks(), args.config))
    if args.smoke_test and not recorded.get("smoke_test"):
        raise FaceauthError(f"--resume: {run_uri} was not started with --smoke-test; leave it out to resume it")
    for key, value in given.items():
        if key in WHERE_IT_RUNS:
            base = {**base, key: value}
        elif json.loads(json.dumps(to_jsonable(value))) != base.get(key):
            raise FaceauthError(f"--resume: {run_uri} was started with {key} = {base.get(key)!r}, not {value!r}; "
                                f"leave {key} out to resume it with the settings it was started with")
    return base


def match_settings(args, options: SearchOptions, recorded: dict | None, settings: dict) -> SearchOptions:
    """A resumed search must match the settings its run recorded (task, objective, space, data) and
    takes its trial budget from them."""
    if recorded is None:  # a new search (recorded once Ray has started and the storage is checked), or an old run
        return options
    run_uri = f"{storage_path(options.storage)}/{options.name}"
    check_same_search(recorded, settings, run_uri)
    if args.trials is not None and args.trials != recorded["trials"]:
        raise FaceauthError(f"--resume: {run_uri} was started with --trials {recorded['trials']}, not {args.trials}; "
                            "leave --trials out to resume it")
    return dataclasses.replace(options, trials=recorded["trials"])


def search_tracking(args, options: SearchOptions, recorded: dict | None, run_uri: str) -> Tracking:
    """Where trials are tracked. A resumed search's tracking callbacks come back from Tune's state as the
    search started them, so it takes the recorded tracking; flags given again must agree with it."""
    tracking = Tracking(args.mlflow, args.mlflow_experiment or options.name, args.wandb, options.name)
    if not recorded:
        return tracking
    if "tracking" not in recorded:  # a run recorded before its tracking was: its callbacks may use a folder store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return tracking
    was = Tracking.from_record(recorded["tracking"], options.name)
    given = {"--mlflow": (args.mlflow, tracking.mlflow_tracking_uri, was.mlflow_tracking_uri),
             "--mlflow-experiment": (args.mlflow_experiment, args.mlflow_experiment, was.mlflow_experiment),
             "--wandb": (args.wandb, args.wandb, was.wandb_project)}
    for flag, (value, meant, recorded_value) in given.items():
        if value is not None and meant != recorded_value:
            raise FaceauthError(f"--resume: {run_uri} was started with {flag} {recorded_value or '(none)'}, not {value}; "
                                f"leave {flag} out: a resumed search tracks its trials where it started")
    return was


def check_search_data(task: Task, config, options: SearchOptions) -> str:
    """The data every trial will read, checked before Ray starts: the task's own check, or every fold's."""
    from faceauth.workflows.protocols import check_protocol_config, check_protocol_data, on_protocol

    check_protocol_config(task, config)
    if not on_protocol(task, config):
        return task.check_data(config)
    if options.uses_train:
        raise FaceauthError("--protocol trains every fold inside one trial: use one worker per trial "
                            "(no --workers-per-trial), or --protocol standard")
    return check_protocol_data(task, config)


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Before Ray starts: --address is "auto", HOST:PORT or ray://HOST:PORT, and something answers at the
    port (Ray itself waits a minute or more for a head that is not there, then prints C++ log lines)."""
    import socket

    if address == "auto":
        return
    match = re.fullmatch(r"(?:ray://)?\[?([A-Za-z0-9.:_-]+?)\]?:(\d{1,5})", address)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise FaceauthError(f"--address {address!r}: give the head node as HOST:PORT (e.g. 10.0.0.5:6379), "
                            "ray://HOST:10001 for Ray Client, or auto")
    host, port = match.group(1), int(match.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        why = "timed out" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__)
        raise FaceauthError(f"--address {address}: nothing answers at {host}:{port} ({why}); check the head node's "
                            "address and port (`ray status` on the head prints them) and that it is running") from None


def start_ray(args, use_train: bool, job_name: str) -> bool:
    """Join the Ray this process already runs (a notebook's `ray.init()`), else start or join one.
    True when this call started it, so the search shuts down only what it started."""
    import ray

    set_ray_environment()
    if ray.is_initialized():
        logger.info("joining the Ray instance this process already started (it stays up after the search)")
        if args.dashboard_port is not None or args.metrics_export_port is not None:
            logger.warning("--dashboard-port/--metrics-export-port apply to a Ray the search starts; this one keeps its "
                           "own (ray.init(dashboard_port=..., _metrics_export_port=...) sets them)")
        return False
    dashboard = use_train or not args.no_dashboard  # Train's clean-up needs the dashboard (docs/ray-notes.md)
    secure_token_file()
    if args.address:
        try:
            context = ray.init(address=args.address, log_to_driver=True, job_config=job_config(job_name))
        except ConnectionError as err:  # "auto" with no cluster running here, or a head that went away
            raise FaceauthError(f"--address {args.address}: no Ray cluster to join ({err}); start one with "
                                "`ray start --head`, or leave --address out to run on this machine") from None
    else:
        # The dashboard and Jobs API can run code: bind them to this machine only.
        # address="local": always a fresh instance, never a `ray start` cluster already running here.
        ports = {"dashboard_port": args.dashboard_port, "_metrics_export_port": args.metrics_export_port}
        context = ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=dashboard, dashboard_host="127.0.0.1",
                           job_config=job_config(job_name), **{k: v for k, v in ports.items() if v is not None})
    secure_token_file()  # the first start writes the token
    url = context.dashboard_url
    logger.info(f"Ray dashboard: http://{url}{dashboard_login_hint()}" if url else "Ray dashboard: off (--no-dashboard)")
    return True


def run_search(args, flags: dict) -> SearchResult:
    """The search the command runs, for the command and for `faceauth.search(...)`: raises FaceauthError
    for what the user can fix, logs through the "faceauth" logger."""
    task = get_task(args.task)
    options = search_options(args, task)
    recorded = recorded_settings(options)  # a resume: its run folder's seal checked, its settings read
    run_uri = f"{storage_path(options.storage)}/{options.name}"
    # Everything a user can get wrong is checked here, before Ray starts.
    space_path = args.search_space or (recorded or {}).get("space_path") or default_space_path(task.name)
    space = load_search_space(space_path, task.config_cls, task.metric_names)
    space = with_objectives(space, args.objective, args.constraint, task.metric_names)
    if args.pick == "knee" and not space.multi_objective:
        raise FaceauthError("--pick knee needs two or more objectives (--objective METRIC:MODE, repeated)")
    target = operating_target(args, task)
    if recorded and "base" in recorded:
        base = resumed_base(args, flags, task, recorded, run_uri)
    else:
        base = base_values(args, flags, task, space)
    config = task.config(base, config_source(args.config))  # built once: the data check, ASHA's epochs, the results
    for name, param in space.parameters.items():  # every choice and both ends of every range must build
        for value in (param.choices or (param.low, param.high)):
            build_config(task.config_cls, {**base, name: int(value) if param.type.endswith("int") else value},
                         f"{space.path}: parameter '{name}' = {value!r} with the base config")
    if on_protocol(task, config) and (space.multi_objective or space.constraints or target):
        raise FaceauthError("a protocol search (--protocol) takes one objective, no --constraint and no --target-*: "
                            "its result is judged per fold")
    data_summary = check_search_data(task, config, options)
    if args.warm_start:
        if space.multi_objective:
            raise FaceauthError("--warm-start takes an earlier search's single objective values; it does not apply to a "
                                "search with several objectives")
        if options.resume:
            raise FaceauthError("--warm-start starts a new search; a resumed search already has its trials")
        options = dataclasses.replace(options, warm_start=warm_start_trials(args.warm_start, task.name, space))
        logger.info(f"warm start: {len(options.warm_start)} finished trials of {args.warm_start}")
    smoke_test = bool(recorded.get("smoke_test")) if recorded else args.smoke_test
    tracking = search_tracking(args, options, recorded, run_uri)
    tracking.check()
    settings = {**search_settings(task.name, options.trials, space, base, task.data_keys, smoke_test),
                "tracking": tracking.record()}
    options = match_settings(args, options, recorded, settings)
    logger.info(f"{task.name} search '{options.name}': {options.trials} trials over {len(space.parameters)} hyperparameters "
                f"({space.path}), optimising {objectives_text(space)}; data: {data_summary}")

    import ray

    started_ray = start_ray(args, options.uses_train, f"faceauth tune {task.name} {options.name}")
    from faceauth.tuning.seal import Sealer

    try:
        if args.wait_for_resources_s > 0:
            wait_for_resources(options, args.wait_for_resources_s)
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        check_shared_storage(options.storage, len(nodes))
        if not options.resume:  # what a later --resume must match, and takes
            write_settings(run_uri, settings)
        concurrency = plan_concurrency(options, ray.cluster_resources(), nodes)
        if options.gpus_per_worker:
            check_trial_node(options, config.device)
        logger.info(f"{concurrency} trial(s) at once; each: {options.workers_per_trial} worker(s) x "
                    f"{options.cpus_per_worker:g} CPU" + (f" x {options.gpus_per_worker:g} GPU" if options.gpus_per_worker else "")
                    + (" under a TorchTrainer (DDP)" if options.uses_train else " as a Tune function trial"))
        (local_run_dir(options) / STOPPED_FILE).unlink(missing_ok=True)  # a resume after a guarded stop
        started = time.perf_counter()
        tuner = build_tuner(task, options, space, base, config.epochs, concurrency, local_run_dir(options), tracking.callbacks())
        try:
            results = tuner.fit()
        finally:  # however fit ends (Ctrl-C included), the seal covers Ray's last state files
            Sealer(f"{storage_path(options.storage)}/{options.name}").seal()
        wall = time.perf_counter() - started
        result = finish(task, options, space, config, results, wall, args.pick, target)
        if result.finished:
            log_best_artifacts(tracking, result)
        return result
    finally:
        if started_ray:
            ray.shutdown()


def local_run_dir(options: SearchOptions) -> Path:
    """Where best/, trials.parquet and the Optuna study are written: the run folder, or for a URI
    storage runs/<name>/ on this machine (copied beside Ray's files at the end)."""
    return Path("runs" if "://" in options.storage else options.storage) / options.name


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args, flags = parse_args(argv)
    return 0 if run_search(args, flags).finished else 130


def operating_target(args, task: Task) -> tuple[str, float] | None:
    """--target-far (verification tasks) or --target-apcer (presentation-attack detection), checked."""
    pad = "apcer" in task.metric_names
    for flag, name, fits in (("--target-far", "far", not pad), ("--target-apcer", "apcer", pad)):
        value = getattr(args, f"target_{name}")
        if value is None:
            continue
        if not fits:
            other = "--target-apcer" if pad else "--target-far"
            raise FaceauthError(f"{flag} does not apply to {task.name} ({'presentation-attack detection' if pad else 'verification'}); use {other}")
        if not 0 < value < 1:
            raise FaceauthError(f"{flag} must lie between 0 and 1 (a rate, e.g. 1e-4), got {value:g}")
        return name, value
    return None


def add_search_gain(best: BestResult, best_dir: Path, gain: dict) -> None:
    """What the search added over its defaults, into the result and its metrics.json."""
    best.extra["over_defaults"] = gain
    write_metrics_json(best, best_dir)


def objectives_text(space: SearchSpace) -> str:
    text = ", ".join(f"{o.metric} ({o.mode})" for o in space.objectives)
    return text + (f" subject to {', '.join(map(str, space.constraints))}" if space.constraints else "")


def finish(task: Task, options: SearchOptions, space: SearchSpace, config: TrainConfig, results, wall: float,
           pick: str = "best", target: tuple[str, float] | None = None) -> SearchResult:
    records = collect_trials(results, space, config.epochs)
    # A URI run gets its best/ written here first, then copied beside Ray's files.
    local_run = local_run_dir(options)
    study = read_study_record(local_run / STUDY_FILE, options.name)
    for record in records:
        record.number = study.numbers.get(record.trial_id, record.number)
    front = analyse(records, space, pick) if space.multi_objective or space.constraints else None
    write_trials_table(records, space.metric, local_run / "trials.parquet", front.columns() if front else None)
    finished = sum(r.status not in ("not_started", "interrupted") for r in records)
    stopped = read_stop_reason(local_run)
    if stopped:
        raise FaceauthError(f"the search stopped: {stopped}. {finished} of {len(records)} trials ended; every trial's "
                            f"status and error: {local_run / 'trials.parquet'}")
    budget_spent = options.time_budget_s is not None and wall >= options.time_budget_s
    if study.exhausted:
        logger.info(f"every configuration of the search space was evaluated: {len(records)} trials, not {options.trials}")
    if finished < options.trials and not budget_spent and not study.exhausted:
        resume = f"{prog('tune')} {task.name} --name {options.name} --storage {options.storage} --resume"
        logger.info(f"\nsearch interrupted after {finished} of {options.trials} trials; continue it with:\n  {resume}")
        return SearchResult(task.name, options.name, local_run, False, results, resume)
    # A trial is a configuration evaluated once; a suggestion that repeated one was answered from the study.
    summary = {"name": options.name, "trials": len(records), "configurations_trained": len(records),
               "suggestions_answered_without_training": study.answered, "space_exhausted": study.exhausted,
               "wall_time_s": wall, "seed": options.seed,
               "scheduler": options.scheduler, "workers_per_trial": options.workers_per_trial,
               "storage": storage_path(options.storage),
               "statuses": {s: sum(r.status == s for r in records) for s in sorted({r.status for r in records})},
               "objectives": [f"{o.metric}:{o.mode}" for o in space.objectives],
               "constraints": [str(c) for c in space.constraints],
               "saturation": saturation_warning(records, space, task.metric_names)}
    best_dir = local_run / "best"
    if on_protocol(task, config):
        record = best_trial(records, space.mode)
        best, results = finish_protocol_search(task, record, space, best_dir, summary, config.protocol_objective)

        def defaults_folds(defaults: TrialRecord) -> dict:
            folds = dict(load_trial_checkpoint(defaults)["protocol_folds"])
            return fold_results(task, folds, config.protocol_objective)["evaluations"]

        add_search_gain(best, best_dir, search_gain(records, record, results["evaluations"], space, len(records),
                                                    defaults_folds))
        plot_folds(results, best_dir / "protocol_folds.png")
        write_report(best_dir, records, space, best, protocol_report_lines(best, results))
        logger.info(f"\nprotocol {results['protocol']}: test side of each fold (95% bootstrap intervals over items)\n"
              + fold_table(results))
        prune_checkpoints(records, record)
    else:
        sections = None
        if front is None:
            record = best_trial(records, space.mode)
            best = finish_best(task, record, space, best_dir, summary, target=target)
        else:
            plot_front(front, local_run / "front.png")
            if front.pick is None:
                why = (f"NO FEASIBLE TRIAL: none of {len(records)} trials met {', '.join(map(str, space.constraints))}; "
                       f"{closest_to_feasible(front)}. No best/ was written: loosen --constraint, or search smaller models "
                       f"(the size knobs of {space.path})." if space.constraints else
                       f"NO TRIAL TO PICK: {closest_to_feasible(front)}. No best/ was written.")
                raise FaceauthError(f"{why} Every trial: {local_run / 'trials.parquet'}; plot: {local_run / 'front.png'}")
            record = front.pick

            def finish_one(trial: TrialRecord, folder: Path, extra: dict) -> BestResult:
                return finish_best(task, trial, space, folder, summary, extra, target)

            pareto = write_pareto(front, local_run, finish_one)
            if record.trial_id in pareto:
                copy_pick(local_run, record.name, best_dir)
                best = pareto[record.trial_id]
            else:  # one objective with constraints: no front, best/ only
                best = finish_one(record, best_dir, trial_summary(record, front))
            shutil.copyfile(local_run / "front.png", best_dir / "front.png")
            sections = front_section(front, pareto)
        add_search_gain(best, best_dir, search_gain(records, record, {"": best.evaluation}, space, len(records),
                                                    lambda defaults: {"": finalized(task, defaults)[1]}))
        write_report(best_dir, records, space, best, sections=sections)
        prune_checkpoints(records, record)  # pareto/ holds every front trial's model already
    value = record.best if front is None else record.kept[space.metric]
    # The study names the trial best/ holds and its figures, as the report and the trackers do.
    record_best(local_run / STUDY_FILE, options.name, record.name, record.number, space.metric, value, best.test)
    if "://" in options.storage:
        publish_run_files(local_run, f"{options.storage.rstrip('/')}/{options.name}")
    if best.verdict:
        logger.info(f"\n{best.verdict['summary']}")
    for name, figures in best.evaluation.benchmarks.items():
        logger.info(f"\n{benchmark_table(name, figures)}")
    logger.info(f"\n{best.extra['over_defaults']['summary']}")
    if summary["saturation"]:
        logger.warning(summary["saturation"])
    logger.info(f"{len(records)} configurations trained" + (f"; {study.answered} suggestions repeated one of them and were "
                                                            "answered from the study without training" if study.answered else ""))
    if front is not None:
        cost = ", ".join(f"{k} {v:.4g}" for k, v in best.cost.items())
        logger.info(f"\n{len(front.feasible)} of {len(front.usable)} trials feasible"
              + (f"; Pareto front: {len(front.front)} trials in {local_run / 'pareto'}/" if space.multi_objective else "")
              + f"\npicked ({pick}): trial {record.name}, {front.describe_pick()}; {cost}")
    logger.info(f"\nbest trial {record.name}: validation {space.metric} {value:.4f}; "
          f"hyperparameters: {format_hyperparameters(record.hyperparameters)}")
    logger.info(f"test: {format_metrics(best.test)}")
    for name, baseline in best.test_baselines.items():
        logger.info(f"  baseline {name}: {format_metrics(baseline, tuple(dict.fromkeys((space.metric, 'eer', 'acer'))))}")
    logger.info(f"  (test figures of the model fitted on the {best.test_data.get('model_fitted_on', 'training data')})")
    logger.info(f"ONNX parity: max abs diff {best.onnx['max_abs_diff']:.2e}")
    point = best.deployment.get("operating_point")
    if point:
        logger.info(point["summary"] + (f" WARNING: {point['warning']}" if point.get("warning") else ""))
    logger.info(f"wrote {best_dir}/ (model.pt, model.onnx, metrics.json, config.yaml, report.md), {local_run / 'trials.parquet'} "
                f"and the Optuna study {local_run / STUDY_FILE} (optuna-dashboard {local_run / STUDY_FILE})"
                + (f"; the Pareto front in {local_run / 'pareto'}/" if front is not None and front.front else ""))
    return SearchResult(task.name, options.name, local_run, True, results)


if __name__ == "__main__":
    sys.exit(main())
