"""The search as a workflow: a typed `SearchRequest` in, a `SearchResult` out. `faceauth tune` parses its
flags into a request; `faceauth.search(...)` builds one from keywords; both call `run_search`.

    request = SearchRequest(task="fusion", trials=20, storage="runs")
    result = run_search(request, {"epochs": 30})   # the second argument: training config keys

Everything a user can get wrong is checked before Ray starts and raised as FaceauthError naming the
flag (the request's field) or key; progress goes to the "faceauth" logger.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional

from faceauth.io.formatting import prog
from faceauth.workflows.config import config_source, resolve_values
from faceauth.io.errors import FaceauthError
from faceauth.io.formatting import benchmark_table, fit_width, format_hyperparameters, format_metrics
from faceauth.io.log import logger
from faceauth.io.outputs import check_output_folder
from faceauth.io.runlog import to_jsonable
from faceauth.tasks import Task, get_task, list_tasks
from faceauth.training.config import TrainConfig, build_config, config_keys, load_config_file, select_task_values
from faceauth.tuning.best import (BestResult, TrialRecord, best_trial, collect_trials, finalized, finish_best,
                                  load_trial_checkpoint, prune_checkpoints, write_metrics_json, write_trials_table)
from faceauth.tuning.dashboard import check_token, dashboard_login_hint, job_config, secure_token_file, token_for_cluster
from faceauth.tuning.front import (analyse, closest_to_feasible, copy_pick, front_section, plot_front, trial_summary,
                                   write_pareto)
from faceauth.tuning.guard import DEFAULT_STUCK_S, STOPPED_FILE, read_stop_reason
from faceauth.tuning.over_defaults import search_gain
from faceauth.tuning.report import saturation_warning, write_report
from faceauth.tuning.result import STUDY_FILE, SearchResult, read_study_record
from faceauth.tuning.run_lock import run_lock
from faceauth.tuning.runner import (SearchOptions, build_tuner, check_resumable, check_trial_node, plan_concurrency,
                                    set_ray_environment, storage_path, wait_for_resources)
from faceauth.tuning.space import SearchSpace, default_space_path, load_search_space, with_objectives
from faceauth.tuning.storage import (check_same_search, check_shared_storage, publish_run_files, read_settings,
                                     search_settings, write_settings)
from faceauth.tuning.study_notes import record_best
from faceauth.tuning.tracking import Tracking, log_best_artifacts
from faceauth.tuning.warm_start import warm_start_trials
from faceauth.workflows.protocols import (finish_protocol_search, fold_results, fold_table, on_protocol, plot_folds,
                                          protocol_report_lines)


@dataclass(frozen=True)
class SearchRequest:
    """What a search is asked, besides the training config: one field per `faceauth tune` flag (the
    command's flags are made from these fields, so their defaults are written once, here)."""

    task: str = ""
    config_file: Optional[str] = None  # --config: the training config file
    # The search.
    trials: Optional[int] = None  # default 50; 2 with smoke_test
    search_space: Optional[str] = None
    seed: Optional[int] = None  # default 0
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = 3
    max_concurrent: Optional[int] = None
    time_budget_s: Optional[float] = None
    max_failures: int = 2
    stuck_timeout_s: float = DEFAULT_STUCK_S
    smoke_test: bool = False
    warm_start: Optional[str] = None
    objective: Optional[tuple[str, ...]] = None
    constraint: Optional[tuple[str, ...]] = None
    target_far: Optional[float] = None
    target_apcer: Optional[float] = None
    pick: Literal["best", "knee"] = "best"
    # Where it runs.
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    address: Optional[str] = None
    num_cpus: Optional[int] = None
    wait_for_resources_s: float = 0.0
    storage: str = "runs"
    name: Optional[str] = None
    resume: bool = False
    no_dashboard: bool = False
    dashboard_port: Optional[int] = None
    metrics_export_port: Optional[int] = None
    verbose: bool = False  # Ray's, Tune's and Optuna's own INFO lines too
    # Experiment tracking.
    mlflow: Optional[str] = None
    mlflow_experiment: Optional[str] = None
    wandb: Optional[str] = None


SEARCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def search_options(request: SearchRequest, task: Task) -> SearchOptions:
    if request.resume and not request.name:
        raise FaceauthError("--resume needs the --name of the search to continue")
    trials = request.trials if request.trials is not None else (2 if request.smoke_test else 50)
    for flag, value, low in (("--trials", trials, 1), ("--workers-per-trial", request.workers_per_trial, 1),
                             ("--max-failures", request.max_failures, 0), ("--grace-period", request.grace_period, 1)):
        if value < low:
            raise FaceauthError(f"{flag} must be at least {low}, got {value}")
    if request.cpus_per_worker <= 0 or request.gpus_per_worker < 0:
        raise FaceauthError("--cpus-per-worker must be > 0 and --gpus-per-worker >= 0")
    if not request.stuck_timeout_s > 0:
        raise FaceauthError(f"--stuck-timeout-s must be a positive number of seconds, got {request.stuck_timeout_s:g}")
    for flag, port in (("--dashboard-port", request.dashboard_port), ("--metrics-export-port", request.metrics_export_port)):
        if port is not None and request.address:
            raise FaceauthError(f"{flag} sets up a local Ray; a cluster (--address) has its own: `ray start --head {flag} PORT`")
        if port is not None and not 1 <= port <= 65535:
            raise FaceauthError(f"{flag} must be a port number (1-65535), got {port}")
    if request.address:
        check_address(request.address)
    if request.name is not None and not SEARCH_NAME.fullmatch(request.name):
        raise FaceauthError(f"--name {request.name!r}: a search's name is one folder name (<storage>/<name>) of letters, "
                            "digits, '.', '_' and '-', starting with a letter or digit, e.g. --name fusion-margins")
    if "://" not in request.storage or request.storage.startswith("file://"):
        check_output_folder(request.storage.removeprefix("file://"), "--storage")
    name = request.name or f"{task.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    return SearchOptions(
        task=task.name, trials=trials, seed=0 if request.seed is None else request.seed, scheduler=request.scheduler,
        grace_period=1 if request.smoke_test else request.grace_period, max_concurrent=request.max_concurrent,
        time_budget_s=request.time_budget_s, workers_per_trial=request.workers_per_trial,
        cpus_per_worker=request.cpus_per_worker, gpus_per_worker=request.gpus_per_worker,
        max_failures=request.max_failures, name=name, storage=request.storage, resume=request.resume,
        stuck_timeout_s=request.stuck_timeout_s,
    )


def base_values(request: SearchRequest, flags: dict, task: Task, space: SearchSpace) -> dict:
    """Every trial's config before its sampled hyperparameters; synthetic data unless data is named."""
    seed = 0 if request.seed is None else request.seed
    values = resolve_values(task, request.config_file, {**flags, "seed": seed}, request.smoke_test, defaults=space.fixed)
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


def resumed_base(request: SearchRequest, flags: dict, task: Task, recorded: dict, run_uri: str) -> dict:
    """A resume trains the remaining trials with the config the search started with; a flag or
    config file given again must agree with it."""
    base = recorded["base"]
    given = dict(flags)
    if request.seed is not None:
        given["seed"] = request.seed
    if request.config_file:
        given.update(select_task_values(load_config_file(request.config_file), task.name, list_tasks(), request.config_file))
    if request.smoke_test and not recorded.get("smoke_test"):
        raise FaceauthError(f"--resume: {run_uri} was not started with --smoke-test; leave it out to resume it")
    for key, value in given.items():
        if key in WHERE_IT_RUNS:
            base = {**base, key: value}
        elif json.loads(json.dumps(to_jsonable(value))) != base.get(key):
            raise FaceauthError(f"--resume: {run_uri} was started with {key} = {base.get(key)!r}, not {value!r}; "
                                f"leave {key} out to resume it with the settings it was started with")
    return base


def match_settings(request: SearchRequest, options: SearchOptions, recorded: dict | None, settings: dict) -> SearchOptions:
    """A resumed search must match the settings its run recorded (task, objective, space, data) and
    takes its trial budget from them."""
    if recorded is None:  # a new search (recorded once Ray has started and the storage is checked), or an old run
        return options
    run_uri = f"{storage_path(options.storage)}/{options.name}"
    check_same_search(recorded, settings, run_uri)
    if request.trials is not None and request.trials != recorded["trials"]:
        raise FaceauthError(f"--resume: {run_uri} was started with --trials {recorded['trials']}, not {request.trials}; "
                            "leave --trials out to resume it")
    return dataclasses.replace(options, trials=recorded["trials"])


def search_tracking(request: SearchRequest, options: SearchOptions, recorded: dict | None, run_uri: str) -> Tracking:
    """Where trials are tracked. A resumed search's tracking callbacks come back from Tune's state as the
    search started them, so it takes the recorded tracking; flags given again must agree with it."""
    tracking = Tracking(request.mlflow, request.mlflow_experiment or options.name, request.wandb, options.name)
    if not recorded:
        return tracking
    if "tracking" not in recorded:  # a run recorded before its tracking was: its callbacks may use a folder store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return tracking
    was = Tracking.from_record(recorded["tracking"], options.name)
    given = {"--mlflow": (request.mlflow, tracking.mlflow_tracking_uri, was.mlflow_tracking_uri),
             "--mlflow-experiment": (request.mlflow_experiment, request.mlflow_experiment, was.mlflow_experiment),
             "--wandb": (request.wandb, request.wandb, was.wandb_project)}
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
    """Before Ray starts: --address is "auto", HOST:PORT or ray://HOST:PORT, something answers at the
    port (Ray itself waits a minute or more for a head that is not there, then prints C++ log lines),
    and a cluster's GCS takes this machine's token (faceauth.tuning.dashboard.check_token)."""
    import socket

    if address == "auto":
        check_token(address)
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
    if not address.startswith("ray://"):  # Ray Client's server is no GCS
        check_token(address)


# Libraries' lines that repeat what the search's own lines say ("A new study created in Journal ...",
# "Wrote the latest version of all result files ...", and at every start Ray's notice that token
# authentication is on, which the dashboard line explains): shown with --verbose only.
CHATTY_LOGGERS = {"ray.tune": logging.WARNING, "ray._private.authentication.authentication_token_setup": logging.ERROR}


def quiet_libraries(verbose: bool) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    for name, level in CHATTY_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.INFO if verbose else level)


def start_ray(request: SearchRequest, use_train: bool, job_name: str) -> bool:
    """Join the Ray this process already runs (a notebook's `ray.init()`), else start or join one.
    True when this call started it, so the search shuts down only what it started."""
    import ray

    set_ray_environment()
    if ray.is_initialized():
        logger.info("joining the Ray instance this process already started (it stays up after the search)")
        if request.dashboard_port is not None or request.metrics_export_port is not None:
            logger.warning("--dashboard-port/--metrics-export-port apply to a Ray the search starts; this one keeps its "
                           "own (ray.init(dashboard_port=..., _metrics_export_port=...) sets them)")
        return False
    dashboard = use_train or not request.no_dashboard  # Train's clean-up needs the dashboard (docs/ray-notes.md)
    secure_token_file()
    # Ray's own INFO lines ("Started a local Ray instance ...") only with --verbose: the next line says it.
    logging_level = logging.INFO if request.verbose else logging.WARNING
    if request.address:
        try:
            context = ray.init(address=request.address, log_to_driver=True, job_config=job_config(job_name),
                               logging_level=logging_level)
        except ConnectionError as err:  # "auto" with no cluster running here, a head that went away, or a token refused
            raise FaceauthError(f"--address {request.address}: no Ray cluster to join ({err}); start one with "
                                f"`ray start --head`, or leave --address out to run on this machine. {token_for_cluster()}") from None
    else:
        # The dashboard and Jobs API can run code: bind them to this machine only.
        # address="local": always a fresh instance, never a `ray start` cluster already running here.
        ports = {"dashboard_port": request.dashboard_port, "_metrics_export_port": request.metrics_export_port}
        context = ray.init(address="local", num_cpus=request.num_cpus, include_dashboard=dashboard, dashboard_host="127.0.0.1",
                           job_config=job_config(job_name), logging_level=logging_level,
                           **{k: v for k, v in ports.items() if v is not None})
    secure_token_file()  # the first start writes the token
    url = context.dashboard_url
    logger.info(f"Ray dashboard: http://{url}{dashboard_login_hint()}" if url else "Ray dashboard: off (--no-dashboard)")
    return True


def run_search(request: SearchRequest, flags: dict | None = None) -> SearchResult:
    """The search the command runs, for the command and for `faceauth.search(...)`: `flags` are training
    config keys (they override the config file and the space's fixed keys). Raises FaceauthError for
    what the user can fix, logs through the "faceauth" logger."""
    flags = dict(flags or {})
    quiet_libraries(request.verbose)
    task = get_task(request.task)
    options = search_options(request, task)
    # Held until this search ends: a resume started while an interrupted search still writes waits for it.
    with run_lock(storage_path(options.storage), options.name, options.resume):
        return _run_search(request, flags, task, options)


def _run_search(request: SearchRequest, flags: dict, task: Task, options: SearchOptions) -> SearchResult:
    recorded = recorded_settings(options)  # a resume: its run folder's seal checked, its settings read
    run_uri = f"{storage_path(options.storage)}/{options.name}"
    # Everything a user can get wrong is checked here, before Ray starts.
    space_path = request.search_space or (recorded or {}).get("space_path") or default_space_path(task.name)
    space = load_search_space(space_path, task.config_cls, task.metric_names)
    space = with_objectives(space, request.objective, request.constraint, task.metric_names)
    if request.pick == "knee" and not space.multi_objective:
        raise FaceauthError("--pick knee needs two or more objectives (--objective METRIC:MODE, repeated)")
    target = operating_target(request, task)
    if recorded and "base" in recorded:
        base = resumed_base(request, flags, task, recorded, run_uri)
    else:
        base = base_values(request, flags, task, space)
    config = task.config(base, config_source(request.config_file))  # built once: the data check, ASHA's epochs, the results
    for name, param in space.parameters.items():  # every choice and both ends of every range must build
        for value in (param.choices or (param.low, param.high)):
            build_config(task.config_cls, {**base, name: int(value) if param.type.endswith("int") else value},
                         f"{space.path}: parameter '{name}' = {value!r} with the base config")
    if on_protocol(task, config) and (space.multi_objective or space.constraints or target):
        raise FaceauthError("a protocol search (--protocol) takes one objective, no --constraint and no --target-*: "
                            "its result is judged per fold")
    data_summary = check_search_data(task, config, options)
    if request.warm_start:
        if space.multi_objective:
            raise FaceauthError("--warm-start takes an earlier search's single objective values; it does not apply to a "
                                "search with several objectives")
        if options.resume:
            raise FaceauthError("--warm-start starts a new search; a resumed search already has its trials")
        options = dataclasses.replace(options, warm_start=warm_start_trials(request.warm_start, task.name, space))
        logger.info(f"warm start: {len(options.warm_start)} finished trials of {request.warm_start}")
    smoke_test = bool(recorded.get("smoke_test")) if recorded else request.smoke_test
    tracking = search_tracking(request, options, recorded, run_uri)
    tracking.check()
    settings = {**search_settings(task.name, options.trials, space, base, task.data_keys, smoke_test),
                "tracking": tracking.record()}
    options = match_settings(request, options, recorded, settings)
    say(f"{task.name} search '{options.name}': {options.trials} trials over {len(space.parameters)} hyperparameters "
                f"({space.path}), optimising {objectives_text(space)}; data: {data_summary}")

    import ray

    started_ray = start_ray(request, options.uses_train, f"faceauth tune {task.name} {options.name}")
    from faceauth.tuning.seal import Sealer

    try:
        if request.wait_for_resources_s > 0:
            wait_for_resources(options, request.wait_for_resources_s)
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
        # best/ reaches the trackers before the summary is printed: the summary stays the last thing on the terminal.
        return finish(task, options, space, config, results, wall, request.pick, target,
                      on_finished=lambda finished: log_best_artifacts(tracking, finished))
    finally:
        if started_ray:
            ray.shutdown()


def say(text: str) -> None:
    """A line of the search's own summary, fitted to the terminal's 120 columns."""
    logger.info(fit_width(text))


def say_warning(text: str) -> None:
    logger.warning(fit_width(text))


def local_run_dir(options: SearchOptions) -> Path:
    """Where best/, trials.parquet and the Optuna study are written: the run folder, or for a URI
    storage runs/<name>/ on this machine (copied beside Ray's files at the end)."""
    return Path("runs" if "://" in options.storage else options.storage) / options.name


def operating_target(request: SearchRequest, task: Task) -> tuple[str, float] | None:
    """--target-far (verification tasks) or --target-apcer (presentation-attack detection), checked."""
    pad = "apcer" in task.metric_names
    for flag, name, fits in (("--target-far", "far", not pad), ("--target-apcer", "apcer", pad)):
        value = getattr(request, f"target_{name}")
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
           pick: str = "best", target: tuple[str, float] | None = None,
           on_finished: Callable[[SearchResult], None] | None = None) -> SearchResult:
    """The finished search's results: trials.parquet, best/ (or pareto/), the report, the study's best;
    `on_finished` gets the result before the summary is printed; the summary is printed last."""
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
    result = SearchResult(task.name, options.name, local_run, True, results)
    if on_finished is not None:
        on_finished(result)
    if best.verdict:
        say(f"\n{best.verdict['summary']}")
    for name, figures in best.evaluation.benchmarks.items():
        say(f"\n{benchmark_table(name, figures)}")
    say(f"\n{best.extra['over_defaults']['summary']}")
    if summary["saturation"]:
        say_warning(summary["saturation"])
    say(f"{len(records)} configurations trained" + (f"; {study.answered} suggestions repeated one of them and were "
                                                    "answered from the study without training" if study.answered else ""))
    if front is not None:
        cost = ", ".join(f"{k} {v:.4g}" for k, v in best.cost.items())
        say(f"\n{len(front.feasible)} of {len(front.usable)} trials feasible"
            + (f"; Pareto front: {len(front.front)} trials in {local_run / 'pareto'}/" if space.multi_objective else "")
            + f"\npicked ({pick}): trial {record.name}, {front.describe_pick()}; {cost}")
    say(f"\nbest trial {record.name}: validation {space.metric} {value:.4f}; "
        f"hyperparameters: {format_hyperparameters(record.hyperparameters)}")
    say(f"test: {format_metrics(best.test)}")
    for name, baseline in best.test_baselines.items():
        say(f"  baseline {name}: {format_metrics(baseline, tuple(dict.fromkeys((space.metric, 'eer', 'acer'))))}")
    say(f"  (test figures of the model fitted on the {best.test_data.get('model_fitted_on', 'training data')})")
    say(f"ONNX parity: max abs diff {best.onnx['max_abs_diff']:.2e}")
    point = best.deployment.get("operating_point")
    if point:
        say(point["summary"] + (f" WARNING: {point['warning']}" if point.get("warning") else ""))
    say(f"wrote {best_dir}/ (model.pt, model.onnx, metrics.json, config.yaml, report.md), {local_run / 'trials.parquet'} "
        f"and the Optuna study {local_run / STUDY_FILE} (optuna-dashboard {local_run / STUDY_FILE})"
        + (f"; the Pareto front in {local_run / 'pareto'}/" if front is not None and front.front else ""))
    return result
