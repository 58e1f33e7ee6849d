"""Readers of what a search writes (its trials table, a trial's reports, TensorBoard event files, the
actor names its trials announce in Ray's worker logs), and ROOT, the checkout the tests run from."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def trials(run_dir: Path) -> list[dict]:
    """The rows of a run folder's trials table, one per trial."""
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


ACTOR_NAME = re.compile(r"^:actor_name:(\S+)$", re.MULTILINE)


def announced_actor_names(since: float) -> list[str]:
    """Every actor name that the worker log files of the running local Ray, written since `since` (a
    time.time()), announce: how Ray learns an actor's name for the dashboard and the log prefixes."""
    import ray

    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    names = []
    for path in sorted(logs.glob("worker-*")):
        if path.suffix in (".out", ".err") and path.stat().st_mtime >= since:
            names += ACTOR_NAME.findall(path.read_text(errors="replace"))
    return names
