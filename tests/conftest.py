"""Shared fixtures: small configs, real files under tmp_path. Tests that search start a real local Ray
through `faceauth.tune`, as a user's command does, with the search's own Ray environment."""

from __future__ import annotations

import dataclasses
import os

import pytest

from faceauth.tuning.runner import set_ray_environment

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
