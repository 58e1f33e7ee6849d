"""GPU nodes without a device: a local Ray that declares logical GPUs. One-worker trials are plain Tune
function trials on a share of a GPU (no TorchTrainer), packed several to a GPU; what cannot work is
refused in one line before any trial starts; a search whose trials cannot be placed or keep failing
ends with the cause instead of hanging."""

import json
import re
import os
import sys
import time
from types import SimpleNamespace

import pandas as pd
import pytest
import ray
import yaml

from faceauth import tune as tune_cli
from faceauth.io.errors import FaceauthError
from faceauth.tuning.guard import STOPPED_FILE, SearchGuard, read_stop_reason
from faceauth.tasks import register, unregister
from tests.run_readers import trials
from tests.unit.tasks.test_task_template import ToyTask


class SlowToy(ToyTask):
    """The toy task, with a data load slow enough that trials overlap, reporting where it ran."""

    name = "slow_toy"

    def prepare(self, config, session):
        time.sleep(2.0)
        run = super().prepare(config, session)
        validate = run.validate

        def validate_where() -> dict:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            return {**validate(), "cuda_visible_device": float(visible) if visible.isdigit() else -1.0}

        run.validate = validate_where
        return run


class BrokenToy(ToyTask):
    name = "broken_toy"

    def prepare(self, config, session):
        raise FaceauthError("the toy's data went away")


@pytest.fixture
def toys():
    import ray.cloudpickle

    modules = [sys.modules[__name__], sys.modules[ToyTask.__module__]]
    for module in modules:  # the trials unpickle these tasks in Ray's worker processes
        ray.cloudpickle.register_pickle_by_value(module)
    for cls in (SlowToy, BrokenToy):
        register(cls)
    yield
    for cls in (SlowToy, BrokenToy):
        unregister(cls.name)
    for module in modules:
        ray.cloudpickle.unregister_pickle_by_value(module)


@pytest.fixture(scope="module")
def logical_gpus():
    """The user's own Ray with two declared GPUs and no device behind them, shared by this module's
    tests that ask for it (the tests' shared Ray, without GPUs, is stopped first)."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=4, num_gpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def toy_space(tmp_path):
    space = tmp_path / "toy.yaml"
    space.write_text(yaml.safe_dump({"metric": "eer", "mode": "min",
                                     "parameters": {"lr": {"type": "log_float", "low": 1e-3, "high": 1e-1}}}))
    return str(space)


def search(tmp_path, task, name, *flags):
    return tune_cli.main([task, "--smoke-test", "--no-dashboard", "--name", name, "--storage", str(tmp_path / "runs"),
                          "--search-space", toy_space(tmp_path), "--log-dir", str(tmp_path / "logs"), *flags])


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    at_once = most = 0
    for _, step in events:
        at_once += step
        most = max(most, at_once)
    return most


@pytest.mark.slow  # 8 trial processes on 2 cores: about 90 s
def test_small_trials_share_logical_gpus_as_function_trials(tmp_path, toys, logical_gpus):
    assert search(tmp_path, "slow_toy", "packed", "--trials", "8", "--gpus-per-worker", "0.25",
                  "--cpus-per-worker", "0.5", "--device", "cpu") == 0
    run = tmp_path / "runs" / "packed"
    rows = pd.DataFrame(trials(run))
    assert len(rows) == 8 and set(rows["status"]) <= {"completed", "early_stopped", "stopped_by_scheduler"}
    # Each trial trained where Ray placed it: CUDA_VISIBLE_DEVICES is the one GPU Ray assigned that trial.
    assert set(rows["last_gpu_id"]) <= {0, 1} and (rows["last_gpu_id"] == rows["last_cuda_visible_device"]).all()
    # Plain function trials: no TorchTrainer ran (its runs live under <run>/train; its reports carry checkpoint_path).
    assert not (run / "train").exists() and not any("checkpoint_path" in c for c in rows.columns)
    ended = rows["ended_at"].map(lambda t: t.timestamp())
    started = ended - rows["wall_time_s"]
    shares = {}
    for gpu, group in rows.groupby("last_gpu_id"):
        shares[gpu] = most_at_once(list(zip(started[group.index], ended[group.index])))
        # A quarter GPU each: never more than four at once on one GPU (a second of slack for Ray's whole-second stamps).
        assert most_at_once([(s + 1, e - 1) for s, e in zip(started[group.index], ended[group.index])]) <= 4
    assert max(shares.values()) >= 2, f"no two trials shared a GPU: {shares}"


@pytest.mark.parametrize("flags,message", [
    (["--gpus-per-worker", "0.5"], r"asks for GPUs, but torch \S+ on the node that would train has no CUDA"),
    (["--gpus-per-worker", "0.5", "--workers-per-trial", "2", "--cpus-per-worker", "0.5"],
     r"runs DDP on GPUs, which needs NCCL, and torch \S+ on the GPU node has none"),
    (["--gpus-per-worker", "3"], r"--gpus-per-worker 3 is more than any node has \(largest: 2 GPUs\)"),
])
def test_what_cannot_work_on_the_gpus_is_refused_in_one_line_before_any_trial(tmp_path, toys, logical_gpus, capsys,
                                                                              flags, message):
    assert search(tmp_path, "slow_toy", "refused", *flags) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and re.search(message, lines[0]), err
    assert not list((tmp_path / "runs" / "refused").glob("slow_toy_*"))  # no trial started


@pytest.mark.slow  # about 12 s: trials on logical GPUs failing one after another until the search ends
@pytest.mark.own_ray
def test_trials_that_keep_failing_end_the_search_with_their_cause(tmp_path, toys, capsys):
    assert search(tmp_path, "broken_toy", "broken", "--trials", "8", "--num-cpus", "2", "--max-failures", "0") != 0
    err = capsys.readouterr().err
    assert "the search stopped: the last 3 trials failed one after another" in err and "the toy's data went away" in err
    rows = trials(tmp_path / "runs" / "broken")
    assert 3 <= sum(r["status"] == "failed" for r in rows) < 8  # it ended before failing every trial
    assert "Traceback" not in err


@pytest.mark.own_ray
def test_trials_that_cannot_be_placed_end_the_search_naming_what_they_wait_for(tmp_path, toys, capsys):
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        @ray.remote(num_cpus=2)
        class Holder:  # another job holds every CPU: no trial can start
            def ready(self):
                return True

        holder = Holder.remote()
        ray.get(holder.ready.remote())
        started = time.monotonic()
        assert search(tmp_path, "slow_toy", "stuck", "--trials", "4", "--stuck-timeout-s", "5") != 0
        assert time.monotonic() - started < 120
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    assert "the search stopped: for 5 s no trial could start" in err and '"CPU": 1.0' in err


def pending(bundle):
    return SimpleNamespace(status="PENDING", placement_group_factory=SimpleNamespace(bundles=[bundle]))


def test_the_guard_waits_only_while_nothing_runs(tmp_path):
    guard = SearchGuard(tmp_path, failures_in_a_row=3, stuck_s=0.2)
    running = SimpleNamespace(status="RUNNING")
    for _ in range(3):
        guard.on_step_begin(0, [pending({"CPU": 1.0, "GPU": 0.5}), running])
        time.sleep(0.15)
    assert not guard.stop_all()  # a trial runs: the others wait their turn
    guard.on_step_begin(1, [pending({"CPU": 1.0, "GPU": 0.5})])
    time.sleep(0.3)
    guard.on_step_begin(2, [pending({"CPU": 1.0, "GPU": 0.5})])
    assert guard.stop_all() and '{"CPU": 1.0, "GPU": 0.5}' in guard.reason
    assert read_stop_reason(tmp_path) == guard.reason and json.loads((tmp_path / STOPPED_FILE).read_text())["reason"]


def test_ray_trains_checkpoint_lines_are_kept_off_the_terminal():
    """The loggers quieted are the ones Ray Train writes "Checkpoint successfully created" with."""
    import importlib
    import logging
    from pathlib import Path

    from faceauth.tuning.runner import QUIET_RAY_LOGGERS, quiet_ray_logs

    for name in QUIET_RAY_LOGGERS:
        module = importlib.import_module(name)
        assert module.logger.name == name and "Checkpoint successfully created" in Path(module.__file__).read_text()
    quiet_ray_logs()
    assert all(logging.getLogger(name).getEffectiveLevel() >= logging.WARNING for name in QUIET_RAY_LOGGERS)


def test_piped_output_carries_no_colour_codes(monkeypatch):
    import io

    from faceauth.tuning.runner import set_ray_environment

    monkeypatch.delenv("RAY_COLOR_PREFIX", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe, a file: not a terminal
    set_ray_environment()
    assert os.environ["RAY_COLOR_PREFIX"] == "0"
