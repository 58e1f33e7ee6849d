"""Run a search: Ray Tune's Tuner with Optuna's TPE and ASHA, each trial the task's `train_loop`.

A one-worker trial runs `train_loop` directly as a Tune function trial (~3.5 s of Ray overhead on 2
cores), on CPUs or on a fraction of a GPU (`--gpus-per-worker 0.25`: four trials share one GPU, each
training on the GPU Ray assigned it, no process group). Only a trial with several workers drives a Ray
Train `TorchTrainer` (DDP: nccl on GPUs, gloo on CPUs) and forwards rank 0's reports to Tune through
`TuneReportCallback`, the way Ray 2.60 documents Train inside Tune (a TorchTrainer costs 16-26 s a
trial on 2 cores, so it is used only where DDP needs it). Before a GPU search starts, a probe on a
node where a trial fits checks what its torch can do (CUDA; NCCL for DDP): what cannot work is
refused in one line. `SearchGuard` (guard.py) ends a search whose trials keep failing or cannot be
placed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceauth.io.errors import FaceauthError
from faceauth.io.log import show_progress
from faceauth.training.fit import TrainingDiverged
from faceauth.tuning.guard import DEFAULT_STUCK_S
from faceauth.tuning.live_metrics import TrialMetrics
from faceauth.tuning.measure import CostReporting
from faceauth.tuning.result import STUDY_FILE, load_study, study_storage
from faceauth.workflows.protocols import trial_loop
from faceauth.tuning.space import SearchSpace
from faceauth.training.session import TrainSession, TuneSession, use_session
from faceauth.tasks import Task

# Train-in-Tune start-up on small machines (docs/ray-notes.md): these cut a TorchTrainer's overhead.
RAY_ENV = {
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
    "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "120",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Trials run in the command's working folder, so relative data paths mean what the user meant.
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    # Tune's older output engine, which prints nothing at verbose=0: the newer one still prints its
    # experiment box and a TensorBoard hint into Ray's temp folder. The search prints its own lines
    # (faceauth/tuning/progress.py).
    "RAY_AIR_NEW_OUTPUT": "0",
}


@dataclass(frozen=True)
class SearchOptions:
    task: str
    trials: int = 50
    seed: int = 0
    scheduler: str = "asha"  # asha | none
    grace_period: int = 3  # ASHA: epochs every trial gets before it can be stopped
    max_concurrent: int | None = None  # default: what the cluster's resources allow
    time_budget_s: float | None = None
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_failures: int = 2
    name: str = "search"
    storage: str = "runs"
    resume: bool = False
    # (params, value, origin) of an earlier search's trials, told to the new study first (--warm-start)
    warm_start: tuple[tuple[dict[str, Any], float, str], ...] = ()
    stuck_timeout_s: float = DEFAULT_STUCK_S  # trials waiting for resources while none runs: the search ends

    @property
    def uses_train(self) -> bool:
        """DDP (several workers a trial) needs a TorchTrainer; one worker, on CPUs or a GPU share, does not."""
        return self.workers_per_trial > 1


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs, pickled to the trial's process: the task itself (no look-up by name)."""

    task: Task
    base: dict[str, Any]  # config values every trial shares (file, flags, the space's `fixed`)
    space: SearchSpace
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    max_failures: int
    train_storage: str
    run_storage: str = ""  # <storage>/<name>: a local folder or a URI
    search: str = ""  # the search's name: it tags the trials' live metrics

    def config_for(self, sampled: dict[str, Any]) -> dict[str, Any]:
        return {**self.base, **self.space.decode(sampled)}

    def live_metrics(self, trial: str) -> TrialMetrics:
        return TrialMetrics(self.search, self.task.name, trial, self.space.metric)


DIVERGED_MARKER = "diverged.txt"


# Ray Train logs every checkpoint a trial saves ("Checkpoint successfully created at: ..."): a line a
# report, forwarded to the driver's terminal, where the last ones arrived after the search's summary.
# The run folder lists the checkpoints; the terminal is for the search.
QUIET_RAY_LOGGERS = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")


def quiet_ray_logs() -> None:
    for name in QUIET_RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class TrialNamedActor:
    """Mixed into the actor that runs trials (Tune's `__mixins__` of a function trainable): the actor
    takes the name of the trial it runs. Ray reads an actor's repr once, when it starts: the Ray
    dashboard's Actors view shows the first trial's name (`fusion_0000`, not `func`); each trial it then
    takes (actor reuse) is announced in its log and renames the prefix of its log lines in the
    driver's terminal (`(fusion_0003 pid=...)`); the actor's log file (its Logs link) holds a line
    `:actor_name:<trial>` for each trial it ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name = self.trial_name

    def reset(self, new_config: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
        reused = super().reset(new_config, *args, **kwargs)
        if reused:
            from ray._private.ray_constants import LOG_PREFIX_ACTOR_NAME

            self._name = self.trial_name
            for stream in (sys.stdout, sys.stderr):  # how Ray's log monitor learns an actor's name
                print(f"{LOG_PREFIX_ACTOR_NAME}{self.trial_name}", file=stream, flush=True)
        return reused


def _tune_trial(setup: TrialSetup, sampled: dict[str, Any]) -> None:
    """One CPU worker: the train_loop itself is the Tune trial.

    A trial whose loss became NaN/inf fails with the reason; a retry would only diverge again from
    the same checkpoint, so the reason is left in the trial's folder in the run's storage (not the
    actor's local trial folder, which a retry on another actor may not have yet) and a retry fails at
    once with it.
    """
    import pyarrow.fs
    from ray import tune

    show_progress()  # the task's messages reach the driver's terminal through Ray's log forwarding
    quiet_ray_logs()
    values, placement = placed(setup.config_for(sampled))
    context = tune.get_context()
    filesystem, root = pyarrow.fs.FileSystem.from_uri(setup.run_storage)
    marker = f"{root}/{Path(context.get_trial_dir()).name}/{DIVERGED_MARKER}"
    if filesystem.get_file_info(marker).type == pyarrow.fs.FileType.File:
        with filesystem.open_input_stream(marker) as stream:
            raise TrainingDiverged(stream.read().decode(errors="replace"), epoch=0)
    try:
        with setup.live_metrics(context.get_trial_name()) as live:
            trial_loop(setup.task, values, CostReporting(TuneSession(live.record, placement), setup.task))
    except TrainingDiverged as err:
        filesystem.create_dir(marker.rsplit("/", 1)[0], recursive=True)
        with filesystem.open_output_stream(marker) as stream:
            stream.write(str(err).encode())
        raise


def placed(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """A function trial's config for where Ray placed it, and what its reports say of the placement.
    With a GPU share, Ray sets CUDA_VISIBLE_DEVICES to the assigned GPU, so "cuda" is that GPU; without
    one, `device: auto` trains on CPU even on a GPU node (the GPUs belong to the trials given them)."""
    import ray
    import torch

    gpu_ids = [str(i) for i in ray.get_gpu_ids()]
    if not gpu_ids:
        return ({**values, "device": "cpu"} if values.get("device", "auto") == "auto" else values), {}
    if values.get("device", "auto") != "cpu" and not torch.cuda.is_available():
        raise FaceauthError(no_cuda_message(torch.__version__))
    first = gpu_ids[0]
    return values, ({"gpu_id": int(first)} if first.isdigit() else {})


def no_cuda_message(torch_version: str) -> str:
    return (f"--gpus-per-worker asks for GPUs, but torch {torch_version} on the node that would train has no CUDA "
            "(torch.cuda.is_available() is False): install a CUDA build of torch there, drop --gpus-per-worker, or "
            "pass --device cpu to place trials by GPU while training on CPU")


def check_trial_node(options: SearchOptions, device: str) -> None:
    """GPUs requested: run a probe where one trial's worker fits, before any trial starts, and refuse
    what its torch cannot do (no CUDA; DDP on GPUs without NCCL) in one line."""
    import ray

    def probe() -> tuple[str, bool, bool]:
        import torch
        import torch.distributed

        return (torch.__version__, torch.cuda.is_available(),
                torch.distributed.is_available() and torch.distributed.is_nccl_available())

    if options.workers_per_trial > 1 and device == "cpu":
        raise FaceauthError("--device cpu with --gpus-per-worker and --workers-per-trial > 1: DDP trials on CPUs take "
                            "no GPU; drop --gpus-per-worker")
    timeout_s = min(120.0, options.stuck_timeout_s)
    ref = ray.remote(probe).options(num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker).remote()
    ready, _ = ray.wait([ref], timeout=timeout_s)
    if not ready:
        ray.cancel(ref, force=True)
        raise FaceauthError(f"no node could run one trial's worker ({options.cpus_per_worker:g} CPU, "
                            f"{options.gpus_per_worker:g} GPU) within {timeout_s:g} s: its GPUs are taken or gone; "
                            "free them or lower --gpus-per-worker")
    version, cuda, nccl = ray.get(ref)
    if options.workers_per_trial > 1 and not nccl:
        raise FaceauthError(f"--workers-per-trial {options.workers_per_trial} with --gpus-per-worker runs DDP on GPUs, "
                            f"which needs NCCL, and torch {version} on the GPU node has none; run one worker per trial "
                            "(--workers-per-trial 1: trials share the GPUs) or install a torch build with NCCL")
    if not cuda and device != "cpu":
        raise FaceauthError(no_cuda_message(version))


def _train_worker(setup: TrialSetup, trial: str, config: dict[str, Any]) -> None:
    import ray.train

    show_progress()
    quiet_ray_logs()
    # Rank 0's reports are the ones Tune gets: it alone exports the trial's live metrics.
    rank0 = ray.train.get_context().get_world_rank() == 0
    with setup.live_metrics(trial) if rank0 else contextlib.nullcontext() as live, \
            use_session(CostReporting(TrainSession(live.record if live else None), setup.task)):
        setup.task.train_loop(config)


def _train_trial(setup: TrialSetup, sampled: dict[str, Any]) -> None:
    """K > 1 workers: this Tune trial drives a TorchTrainer (DDP); rank 0's reports reach Tune. On GPUs
    the backend is nccl (check_trial_node made sure the GPU nodes' torch has it), else gloo."""
    import ray.train
    from ray import tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    use_gpu = setup.gpus_per_worker > 0
    resources = {"CPU": setup.cpus_per_worker, **({"GPU": setup.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        functools.partial(_train_worker, setup, tune.get_context().get_trial_name()),
        train_loop_config=setup.config_for(sampled),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=setup.workers, use_gpu=use_gpu, resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=tune.get_context().get_trial_id(),
            storage_path=setup.train_storage,
            callbacks=[TuneReportCallback()],
            # -1 (the default) retries a worker group that cannot start forever: a hang, not an error.
            failure_config=ray.train.FailureConfig(max_failures=setup.max_failures, controller_failure_limit=1),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
        ),
    )
    trainer.fit()


def storage_path(storage: str) -> str:
    """Ray's storage path: an absolute local folder or a pyarrow URI (s3://, gs://, file://) as given."""
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def unmet_resources(options: SearchOptions, resources: dict[str, float], nodes: list[dict[str, Any]]) -> str | None:
    """Why one trial could never be placed on this cluster as it is now, or None when it can."""
    cpus, gpus, workers = options.cpus_per_worker, options.gpus_per_worker, options.workers_per_trial
    total_cpu, total_gpu = resources.get("CPU", 0), resources.get("GPU", 0)
    if gpus > 0 and total_gpu == 0:
        return (f"--gpus-per-worker {gpus:g} asks for GPUs, but the Ray cluster has none; drop the flag to train "
                "on CPU, or join a cluster with GPU nodes (--address)")
    largest_cpu = max((n.get("CPU", 0) for n in nodes), default=0)
    largest_gpu = max((n.get("GPU", 0) for n in nodes), default=0)
    if cpus > largest_cpu:
        return f"--cpus-per-worker {cpus:g} is more than any node has (largest: {largest_cpu:g} CPUs); lower it"
    if gpus > largest_gpu:
        return f"--gpus-per-worker {gpus:g} is more than any node has (largest: {largest_gpu:g} GPUs); lower it"
    driver = 0.01 if options.uses_train else 0.0  # a TorchTrainer trial's driver function holds 0.01 CPU
    if workers * cpus + driver > total_cpu + 1e-9 or (gpus and workers * gpus > total_gpu + 1e-9):
        return (f"one trial needs {workers} workers x {cpus:g} CPU" + (f" x {gpus:g} GPU" if gpus else "")
                + (" plus 0.01 CPU for its driver" if driver else "") + f", but the cluster has {total_cpu:g} CPUs"
                + (f" and {total_gpu:g} GPUs" if gpus else "") + "; lower --workers-per-trial or the per-worker resources"
                + (f" (e.g. --cpus-per-worker {math.floor((total_cpu - driver) / workers * 10) / 10:g})" if not gpus else ""))
    return None


def plan_concurrency(options: SearchOptions, resources: dict[str, float], nodes: list[dict[str, Any]]) -> int:
    """How many trials fit at once; refuse at start what no node could ever run (no PENDING forever)."""
    reason = unmet_resources(options, resources, nodes)
    if reason:
        raise FaceauthError(reason + ". On an autoscaling cluster, --wait-for-resources-s lets new nodes come up first")
    driver = 0.01 if options.uses_train else 0.0
    fit = math.floor(resources.get("CPU", 0) / (options.workers_per_trial * options.cpus_per_worker + driver) + 1e-9)
    if options.gpus_per_worker:
        fit = min(fit, math.floor(resources.get("GPU", 0) / (options.workers_per_trial * options.gpus_per_worker) + 1e-9))
    return max(1, min(fit, options.max_concurrent or fit, options.trials))


def wait_for_resources(options: SearchOptions, timeout_s: float) -> None:
    """Ask the autoscaler for one trial's workers and wait until the cluster could place them."""
    import time

    import ray
    from ray.autoscaler.sdk import request_resources

    bundle = {"CPU": options.cpus_per_worker, **({"GPU": options.gpus_per_worker} if options.gpus_per_worker else {})}
    request_resources(bundles=[bundle] * options.workers_per_trial)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        if unmet_resources(options, ray.cluster_resources(), nodes) is None:
            return
        time.sleep(5)


def build_tuner(task: Task, options: SearchOptions, space: SearchSpace, base: dict[str, Any], epochs: int,
                concurrency: int, run_dir: Path, callbacks: list[Any] = ()):
    """The Tuner, new or restored (--resume), with its searcher, scheduler and failure policy. `base`:
    the config values every trial shares; `epochs`: the longest a trial runs (ASHA's max_t). The
    Optuna study lives in run_dir (a JournalStorage file, named after the search): optuna-dashboard
    and `optuna.load_study` read it while the search runs and after; a resume continues it."""
    from optuna.samplers import TPESampler
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from faceauth.tuning.searcher import ObjectivesSearch, TaggedOptunaSearch

    from faceauth.tuning.guard import SearchGuard
    from faceauth.tuning.progress import ProgressLines
    from faceauth.tuning.seal import SealCallback
    from faceauth.tuning.study_notes import StudyTrialNames

    storage = storage_path(options.storage)
    # Trials failing one after another: as many as run at once (at least 3) before the search ends.
    guard = SearchGuard(run_dir.resolve(), max(3, concurrency), options.stuck_timeout_s)
    setup = TrialSetup(task, base, space, options.workers_per_trial, options.cpus_per_worker,
                       options.gpus_per_worker, options.max_failures, f"{storage}/{options.name}/train",
                       f"{storage}/{options.name}", options.name)
    if options.uses_train:
        trainable = tune.with_resources(functools.partial(_train_trial, setup), {"cpu": 0.01})
    else:
        trainable = tune.with_resources(functools.partial(_tune_trial, setup),
                                        {"cpu": options.cpus_per_worker, "gpu": options.gpus_per_worker})
    trainable.__mixins__ = (TrialNamedActor,)  # the Ray dashboard's actors carry trial names
    if options.resume:
        # The searcher comes back from Tune's state with its study (the same journal file), and the
        # tracking callbacks as the search was started.
        try:
            return tune.Tuner.restore(f"{storage}/{options.name}", trainable=trainable, resume_errored=True)
        except ModuleNotFoundError as err:
            if "faceauth.search" not in str(err):
                raise
            # Ray pickles the searcher by its module path, which was faceauth.search.* before 0.2.
            raise FaceauthError(f"--resume: {storage}/{options.name} was written by a faceauth older than 0.2, whose "
                                "search package (faceauth.search) is now faceauth.tuning; resume it with that version, "
                                "or start a new search (--warm-start it from this run's trials)") from None

    points = space.points_to_evaluate() or None
    study = {"storage": study_storage(run_dir.resolve() / STUDY_FILE), "study_name": options.name}
    # Several objectives or constraints: the searcher is told each trial's objectives and constraints
    # (faceauth.tuning.searcher) and ASHA stops trials on the accuracy objective (space.metric).
    tell_all = space.multi_objective or bool(space.constraints)
    if tell_all:
        searcher = ObjectivesSearch(space, space.objectives, space.constraints, points_to_evaluate=points,
                                    sampler=TPESampler(seed=options.seed), warm_start=options.warm_start, **study)
    else:
        searcher = TaggedOptunaSearch(space, metric=space.metric, mode=space.mode, points_to_evaluate=points,
                                      sampler=TPESampler(seed=options.seed),
                                      warm_start=options.warm_start, **study)
    on_metric = {"metric": space.metric, "mode": space.mode} if tell_all else {}
    if options.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(options.grace_period, epochs),
                                  reduction_factor=3, **on_metric)
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,  # no param_space: the searcher samples each trial's active parameters (define-by-run)
        tune_config=tune.TuneConfig(
            metric=None if tell_all else space.metric, mode=None if tell_all else space.mode,
            search_alg=searcher, scheduler=scheduler,
            num_samples=options.trials, max_concurrent_trials=concurrency,
            time_budget_s=options.time_budget_s,
            trial_name_creator=functools.partial(trial_name, task.name),
            trial_dirname_creator=functools.partial(trial_name, task.name),
            # A function trial's actor can take the next trial: saves its start-up (and the data
            # cached in the process) for every trial after the first on each slot.
            reuse_actors=not options.uses_train,
        ),
        run_config=tune.RunConfig(
            name=options.name, storage_path=storage,
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # The seal keeps a keyed digest of every file a --resume would unpickle (seal.py); carried in
            # tuner.pkl, so a restored search goes on sealing.
            callbacks=[SealCallback(f"{storage}/{options.name}"), guard,
                       ProgressLines(space.metric, space.mode, options.trials, tuple(space.parameters)),
                       StudyTrialNames(run_dir.resolve() / STUDY_FILE, options.name), *callbacks],
            stop=guard,
            verbose=0,  # ProgressLines: a line a trial, not Tune's configuration and result boxes
        ),
    )


def trial_name(task: str, trial) -> str:
    """`fusion_0007`: the task and the trial's place in the search (Tune's counter, in its experiment
    tag, counts from 1; this from 0, like Optuna). Ray's default strings every hyperparameter into the name."""
    counter = str(trial.experiment_tag).split("_", 1)[0]
    return f"{task}_{int(counter) - 1:04d}" if counter.isdigit() else f"{task}_{trial.trial_id}"


def check_resumable(options: SearchOptions, run_dir: Path) -> None:
    """Before Ray starts: --resume needs a run folder Tune can restore, every file of which that the
    restore unpickles still as this search wrote it (seal.py); a new search needs a name whose study
    does not exist yet (it would mix two searches' trials)."""
    from ray import tune

    from faceauth.tuning.seal import verify_run_folder

    run_path = f"{storage_path(options.storage)}/{options.name}"
    if options.resume and not tune.Tuner.can_restore(run_path):
        raise FaceauthError(f"--resume: no search to resume at {run_path}; check --name and --storage")
    if options.resume:
        verify_run_folder(run_path)
        check_study(run_dir / STUDY_FILE, options.name)
    if not options.resume and (run_dir / STUDY_FILE).exists():
        raise FaceauthError(f"{run_dir} already holds the search '{options.name}'; continue it with --resume, "
                            "or give the new search another --name")


def check_study(path: Path, name: str) -> None:
    """A resumed search appends to its Optuna study: one that cannot be read (truncated, edited, another
    search's) is named before Ray starts, not found broken once the remaining trials have run."""
    if not path.is_file():
        return  # a run from before the study was kept on disk: Tune's state has the searcher
    try:
        load_study(path, name)
    except Exception as err:  # optuna raises KeyError, ValueError or JSON errors for a damaged journal
        raise FaceauthError(f"--resume: the Optuna study {path} cannot be read ({type(err).__name__}: {err}); restore "
                            "the file, or start a new search under another --name (--warm-start can seed it from "
                            "this run's trials.parquet)") from None


def set_ray_environment() -> None:
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    # Ray colours the "(pid=...)" prefix of every line it forwards from a trial; piped into a file, a
    # pager or CI's log those colours are escape codes. On a terminal they stay.
    if not sys.stdout.isatty():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
