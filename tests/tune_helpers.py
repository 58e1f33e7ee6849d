"""Running `faceauth.tune` from tests: in-process for most, as a subprocess where it must be killed."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from faceauth import tune as tune_cli

ROOT = Path(__file__).resolve().parents[1]


def tune_args(tmp_path: Path, name: str, *extra: str, storage: str | None = None, task: str = "fusion") -> list[str]:
    return [task, "--smoke-test", "--no-dashboard", "--num-cpus", "2", "--name", name,
            "--storage", storage or str(tmp_path / "runs"), "--log-dir", str(tmp_path / "logs"), *extra]


def run_tune(tmp_path: Path, name: str, *extra: str, storage: str | None = None, task: str = "fusion") -> int:
    return tune_cli.main(tune_args(tmp_path, name, *extra, storage=storage, task=task))


def start_tune(tmp_path: Path, name: str, *extra: str, output: Path | None = None, task: str = "fusion") -> subprocess.Popen:
    """The command as a user runs it, in its own process group (so a test can kill all of it); what it
    prints (stdout and stderr) goes to `output` when given."""
    sink = open(output, "w") if output else subprocess.DEVNULL  # noqa: SIM115 (the child holds it)
    return subprocess.Popen([sys.executable, "-m", "faceauth.tune", *tune_args(tmp_path, name, *extra, task=task)],
                            cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def mlp_only_space(tmp_path: Path, **fixed) -> str:
    """A fusion search space whose trials all train (the default one also tries fusion kinds that
    finish at epoch 0, with no training); `fixed`: more config values every trial uses."""
    path = tmp_path / "mlp_only.yaml"
    path.write_text(yaml.safe_dump({"metric": "tar_at_far_1e-3", "mode": "max", "fixed": {"fusion_kind": "mlp", **fixed},
                                    "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}))
    return str(path)


def trials(run_dir: Path) -> list[dict]:
    return pq.read_table(run_dir / "trials.parquet").to_pylist()


def results_of(trial_dir: Path) -> list[dict]:
    """A trial's reports as Tune wrote them (one JSON line per report)."""
    path = trial_dir / "result.json"
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written right now
            pass
    return lines


def event_scalars(path: Path) -> list[tuple[int, str, float | None]]:
    """(step, tag, value) of every summary in a TensorBoard event file (value None for a plugin's
    summary, e.g. hparams). The file is TFRecord framing (length, its CRC, the record, its CRC) around
    tensorboardX's Event protobuf; tensorboard itself is not installed with faceauth."""
    from tensorboardX.proto.event_pb2 import Event

    data, found, at = path.read_bytes(), [], 0
    while at + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        event = Event.FromString(data[at + 12:at + 12 + length])
        at += 12 + length + 4
        found += [(event.step, v.tag, v.simple_value if v.HasField("simple_value") else None) for v in event.summary.value]
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
