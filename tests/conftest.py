"""Shared fixtures: small configs, real files under tmp_path. Tests that search start a real local Ray
through `faceauth.tune`, as a user's command does, with the search's own Ray environment; the search
fixtures run that command with its runs and logs under the test's tmp_path (`tune`, or `tune_at(folder)`
for a fixture wider than one test), write a search space (`mlp_only_space`), pick free ports
(`free_port`) and wait on what a search writes (`wait_for`). Readers of what a search writes are
plain functions in tests/run_readers.py."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from faceauth.tuning.runner import set_ray_environment
from tests.run_readers import ROOT

# Ray's start-up and Train's control loop tuned for a 2-core machine (docs/ray-notes.md): the same
# settings a search sets, for tests that start Ray without faceauth.tune.
set_ray_environment()


@pytest.fixture(autouse=True, scope="session")
def run_key(tmp_path_factory):
    """Searches seal their run folders with a key of the test session's own, not the user's."""
    os.environ["FACEAUTH_RUN_KEY"] = str(tmp_path_factory.mktemp("key") / "run-key")


@pytest.fixture
def shared_ray():
    """A local Ray kept up from one in-process search test to the next, as a notebook keeps its Ray:
    each such search then joins it (faceauth.tuning.search.start_ray) instead of starting and stopping its own,
    and its trials reuse Ray's idle worker processes (about 6 s a search on 2 cores)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield


@pytest.fixture(autouse=True)
def own_ray(request):
    """A test marked `own_ray` (it starts a Ray of its own: ray.init, a cluster, a search with Ray
    settings of its own, or one that must find no Ray running) first stops the shared one, if up."""
    if request.node.get_closest_marker("own_ray"):
        import sys

        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    yield


@pytest.fixture
def small_fusion(tmp_path):
    """A fusion config small enough for a test: 30 identities x 6 samples, 2 epochs."""
    return {
        "synthetic": True, "num_identities": 30, "samples_per_id": 6, "embedding_dim": 32,
        "hidden_sizes": [32], "out_dim": 32, "epochs": 2, "batch_size": 16, "max_impostor_pairs": 2000,
        "log_dir": str(tmp_path / "logs"), "output": str(tmp_path / "fusion.pth"),
    }


@pytest.fixture
def small_config(tmp_path):
    """`small_config(task)`: config values for a task from its own smoke settings (`Task.smoke`), on its
    synthetic data where it has some, with every path (logs, caches, outputs) under tmp_path."""

    def build(task) -> dict:
        fields = {f.name for f in dataclasses.fields(task.config_cls)}
        values = {**task.smoke_overrides(), "log_dir": str(tmp_path / "logs")}
        paths = {"synthetic": True, "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
                 "output": str(tmp_path / "out" / f"{task.name}.pth")}
        values.update({key: value for key, value in paths.items() if key in fields})
        return values

    return build


class TuneCommand:
    """`faceauth.tune` with its runs (--storage) and logs under one folder: in process for most, as a
    subprocess where it must be killed."""

    def __init__(self, folder: Path):
        self.folder = folder

    def args(self, name: str, *extra: str, storage: str | None = None, task: str = "fusion") -> list[str]:
        """The command's arguments for a smoke search named `name`, then `extra`."""
        return [task, "--smoke-test", "--no-dashboard", "--num-cpus", "2", "--name", name,
                "--storage", storage or str(self.folder / "runs"), "--log-dir", str(self.folder / "logs"), *extra]

    def run(self, name: str, *extra: str, storage: str | None = None, task: str = "fusion") -> int:
        """Runs the search in this process; its exit code."""
        from faceauth import tune as tune_cli

        return tune_cli.main(self.args(name, *extra, storage=storage, task=task))

    def start(self, name: str, *extra: str, output: Path | None = None, task: str = "fusion") -> subprocess.Popen:
        """The command as a user runs it, in its own process group (so a test can kill all of it); what it
        prints (stdout and stderr) goes to `output` when given."""
        sink = open(output, "w") if output else subprocess.DEVNULL  # noqa: SIM115 (the child holds it)
        return subprocess.Popen([sys.executable, "-m", "faceauth.tune", *self.args(name, *extra, task=task)],
                                cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture(scope="session")
def tune_at():
    """`tune_at(folder)`: the search command with its runs and logs under `folder`, for fixtures wider than a test."""
    return TuneCommand


@pytest.fixture
def tune(tune_at, tmp_path):
    """The search command with its runs and logs under the test's tmp_path: `args`, `run` (in process), `start`."""
    return tune_at(tmp_path)


@pytest.fixture
def mlp_only_space(tmp_path):
    """`mlp_only_space(**fixed)`: the path of a fusion search space, under tmp_path, whose trials all train."""

    def write(**fixed) -> str:
        # The default space also tries fusion kinds that finish at epoch 0, with no training; `fixed`:
        # more config values every trial uses.
        path = tmp_path / "mlp_only.yaml"
        path.write_text(yaml.safe_dump({"metric": "tar_at_far_1e-3", "mode": "max", "fixed": {"fusion_kind": "mlp", **fixed},
                                        "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}))
        return str(path)

    return write


@pytest.fixture
def free_port():
    """`free_port()`: a TCP port on 127.0.0.1 that nothing listens on now, a fresh pick on each call."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick


@pytest.fixture
def wait_for():
    """`wait_for(condition, timeout, what, poll=0.1)`: the first true value `condition` gives, or TimeoutError."""

    def wait(condition, timeout: float, what: str, poll: float = 0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(poll)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

    return wait
