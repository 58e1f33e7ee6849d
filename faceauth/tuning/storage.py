"""Where a search keeps its run: a local folder, a shared mount, or a pyarrow URI (s3://, gs://, file://).

On a cluster of several nodes every trial checkpoints to the storage path and the driver reads the
best one back, so a local disk on the head node will not do: refuse it at start, saying what to pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from faceauth.io.errors import FaceauthError

# Filesystem types that several machines mount at once.
SHARED_FILESYSTEMS = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "ceph", "fuse.ceph", "glusterfs",
    "fuse.glusterfs", "beegfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.sshfs", "fuse.rclone",
    "fuse.mountpoint-s3", "efs", "9p", "virtiofs", "wekafs", "panfs", "fuse.weka",
}
# Set when a shared mount is of a type not listed above.
ASSUME_SHARED_ENV = "FACEAUTH_SHARED_STORAGE"


def filesystem_type(path: str | Path) -> str:
    """The type of the mount holding `path` (the longest matching mount point in /proc/mounts)."""
    target = Path(path).expanduser().resolve()
    while not target.exists() and target != target.parent:
        target = target.parent
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3:
            point = fields[1].replace("\\040", " ")
            if (str(target) == point or str(target).startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best, kind = point, fields[2]
    return kind


def check_shared_storage(storage: str, num_nodes: int) -> None:
    if num_nodes <= 1 or "://" in storage or os.environ.get(ASSUME_SHARED_ENV) == "1":
        return
    kind = filesystem_type(storage)
    if kind not in SHARED_FILESYSTEMS:
        raise FaceauthError(
            f"the Ray cluster has {num_nodes} nodes but --storage {storage} is a local folder ({kind} filesystem): "
            "trials on other nodes could not write checkpoints the driver can read. Pass shared storage: "
            "--storage s3://bucket/runs (or gs://...), or a folder on a mount every node shares (NFS, EFS, Lustre...). "
            f"If {storage} is shared but of another type, set {ASSUME_SHARED_ENV}=1"
        )


def publish_run_files(local_dir: Path, uri: str) -> None:
    """Copy best/ and trials.parquet written on the driver to the run's URI beside Ray's own files."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    filesystem.create_dir(root, recursive=True)
    pyarrow.fs.copy_files(str(local_dir.resolve()), root, source_filesystem=pyarrow.fs.LocalFileSystem(),
                          destination_filesystem=filesystem)


SETTINGS_FILE = "faceauth-search.json"


def search_settings(task: str, trials: int, space, base: dict, data_keys: tuple[str, ...], smoke_test: bool = False) -> dict:
    """What a resumed search must share with the run it resumes: the task, the trial budget, the
    objective, the space and the data; and what it takes from it: every trial's base config, the
    search space's file and whether it was a smoke test."""
    return {"task": task, "trials": trials, "metric": space.metric, "mode": space.mode,
            "parameters": {name: {k: v for k, v in vars(p).items() if k != "name"} for name, p in space.parameters.items()},
            "objectives": [f"{o.metric}:{o.mode}" for o in space.objectives],
            "constraints": [str(c) for c in space.constraints],
            "fixed": space.fixed, "data": {k: base.get(k) for k in sorted({*data_keys, "test_data", "synthetic",
                                                                           "synthetic_regime", "data_seed"}) if k in base},
            "base": base, "space_path": str(space.path), "smoke_test": smoke_test}


def write_run_json(run_uri: str, name: str, record: dict) -> None:
    """A JSON file in the run folder (local or URI), written under a temporary name and moved."""
    import pyarrow.fs

    from faceauth.io.runlog import to_jsonable

    filesystem, root = pyarrow.fs.FileSystem.from_uri(run_uri)
    filesystem.create_dir(root, recursive=True)
    tmp = f"{root}/{name}.tmp"
    with filesystem.open_output_stream(tmp) as stream:
        stream.write(json.dumps(to_jsonable(record), indent=2, sort_keys=True).encode())
    filesystem.move(tmp, f"{root}/{name}")


def write_settings(run_uri: str, settings: dict) -> None:
    write_run_json(run_uri, SETTINGS_FILE, settings)


def read_settings(run_uri: str) -> dict | None:
    """The recorded settings (plain JSON, checked field by field), or None for a run that has none."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(run_uri)
    path = f"{root}/{SETTINGS_FILE}"
    if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    try:
        with filesystem.open_input_stream(path) as stream:
            settings = json.loads(stream.read().decode())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise FaceauthError(f"{run_uri}/{SETTINGS_FILE} is unreadable ({err}); it records the search to resume") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("trials"), int):
        raise FaceauthError(f"{run_uri}/{SETTINGS_FILE} is not a faceauth search record")
    return settings


def check_same_search(recorded: dict, current: dict, run_uri: str) -> None:
    """A resume must continue the same search: refuse, naming each setting that differs."""
    from faceauth.io.runlog import to_jsonable

    current = json.loads(json.dumps(to_jsonable(current)))
    keys = ("task", "metric", "mode", "parameters", "fixed", "data", "objectives", "constraints")
    # A run recorded before objectives and constraints were: it had the one metric and none.
    defaults = {"objectives": [f"{recorded.get('metric')}:{recorded.get('mode')}"], "constraints": []}
    differ = [key for key in keys if recorded.get(key, defaults.get(key)) != current.get(key)]
    if differ:
        details = "; ".join(f"{key}: was {json.dumps(recorded.get(key))[:200]}, now {json.dumps(current.get(key))[:200]}"
                            for key in differ)
        raise FaceauthError(f"--resume: {run_uri} is a different search ({details}). Resume it with the settings it was "
                            "started with, or start a new search under another --name")
