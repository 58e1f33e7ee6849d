"""Where a search keeps its run: a local folder, a shared mount, or a pyarrow URI (s3://, gs://, file://).

On a cluster of several nodes every trial checkpoints to the storage path and the driver reads the
best one back, so a local disk on the head node will not do: refuse it at start, saying what to pass.
"""

from __future__ import annotations

import os
from pathlib import Path

from faceauth.errors import FaceauthError

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
