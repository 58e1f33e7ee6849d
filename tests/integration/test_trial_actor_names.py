"""The Ray dashboard's actors carry trial names: each trial's actor announces the trial it runs (Ray
reads it for the Actors view's repr and for the prefix of the actor's log lines), also when Tune hands
a reused actor its next trial."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import ray
import yaml

import faceauth

ACTOR_NAME = re.compile(r"^:actor_name:(\S+)$", re.MULTILINE)


def announced_names(logs: Path, since: float) -> list[str]:
    """Every actor name the worker log files written since `since` announce, in order per file."""
    names = []
    for path in sorted(logs.glob("worker-*")):
        if path.suffix in (".out", ".err") and path.stat().st_mtime >= since:
            names += ACTOR_NAME.findall(path.read_text(errors="replace"))
    return names


@pytest.mark.usefixtures("shared_ray")
def test_every_trial_names_its_actor(tmp_path):
    space = tmp_path / "space.yaml"  # every trial trains; no fusion kind ends at epoch 0
    space.write_text(yaml.safe_dump({"metric": "tar_at_far_1e-3", "mode": "max", "fixed": {"fusion_kind": "mlp"},
                                     "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}))
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    started = (tmp_path / "space.yaml").stat().st_mtime
    result = faceauth.search("fusion", trials=4, smoke_test=True, name="names", search_space=str(space),
                             storage=str(tmp_path / "runs"), log_dir=str(tmp_path / "logs"), max_concurrent=1)
    trial_names = {row["trial_name"] for row in result.trials.to_dict("records")}
    assert trial_names == {f"fusion_{i:04d}" for i in range(4)}
    announced = announced_names(logs, started)
    assert "func" not in announced
    # One actor at a time ran the four trials (reused): each trial's name was announced.
    assert trial_names <= set(announced), announced
