"""A run folder's seal: what makes `--resume` safe against a tampered `<storage>/<name>`.

Ray's restore unpickles files from the run folder (read in the installed Ray 2.60 source):
`tuner.pkl` (`pickle.loads`, tune/impl/tuner_internal.py), the newest `experiment_state-*.json`
(JSON whose values may embed cloudpickle blobs, expanded by `_loads_with_cloudpickle`, both in the
TuneController and in ExperimentAnalysis), the newest `searcher-state-*.pkl` (`cloudpickle.load`,
then `pickle.load` again by OptunaSearch), `callback-states-*.pkl`, and a trial's `error.pkl`
(`Trial.get_pickled_error`, read when the results are gathered). Whoever can write one of those can
run code as whoever resumes; `search_gen_state-*.json` and `basic-variant-state-*.json` are pickles
too, whatever their name. So while a search runs, faceauth records a keyed digest (HMAC-SHA256) of
every such file (see `is_sealed`) in `faceauth-seal.json`; the key lives outside the run folder, in the user's config folder
(`~/.config/faceauth/run-key`, mode 0600) or the file `FACEAUTH_RUN_KEY` names. A resume checks
the seal before anything is unpickled and refuses, naming the file, when one differs, is missing, or
is not in the seal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from ray.tune.callback import Callback

from faceauth.io.errors import FaceauthError
from faceauth.tuning.result import STUDY_FILE
from faceauth.tuning.storage import write_run_json

SEAL_FILE = "faceauth-seal.json"
KEY_ENV = "FACEAUTH_RUN_KEY"
UNSEALED = {SEAL_FILE, "trials.parquet"}  # written by faceauth after the search, never unpickled
# Not sealed either: the Optuna study's journal (STUDY_FILE, JSON lines, and its lock) is written as
# trials report and read as data, never unpickled; a driver killed between a write and a seal must
# not block the resume.
VERSIONS_KEPT = 3  # a file's last few digests: the seal and Ray's copy to storage need not be in step


def key_path() -> Path:
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "faceauth" / "run-key"


def run_key(create: bool) -> bytes:
    """The user's key (32 random bytes); created 0600 on first use when `create`. A key others could
    read or write would let them forge a seal: refused."""
    path = key_path()
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another search created it first
        except OSError as err:
            raise FaceauthError(f"cannot create the run key {path} ({err.strerror}); set {KEY_ENV} to a writable file path") from None
        else:
            with os.fdopen(fd, "wb") as stream:
                stream.write(secrets.token_bytes(32))
    try:
        info = path.stat()
        key = path.read_bytes()
    except FileNotFoundError:
        raise FaceauthError(f"the run key {path} is missing, so the run folder's seal cannot be checked; resume on the "
                            f"machine and account that started the search, or point {KEY_ENV} at a copy of its key") from None
    except OSError as err:
        raise FaceauthError(f"cannot read the run key {path} ({err.strerror})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise FaceauthError(f"the run key {path} is readable or writable by other users (or not yours): "
                            f"anyone who can read it can forge a run folder; run `chmod 600 {path}`")
    if len(key) < 16:
        raise FaceauthError(f"the run key {path} is shorter than 16 bytes; delete it and a new one is made")
    return key


def is_sealed(relpath: str) -> bool:
    """Every file at the top of the run folder (Ray's state: tuner.pkl, experiment_state-*.json,
    searcher-state-*.pkl, search_gen_state-*.json and basic-variant-state-*.json, which are pickles
    despite their name, callback-states-*.pkl; and the search's settings) except what faceauth writes
    after the search, and a trial's error.pkl (read when the results are gathered). Not a trial's
    params.pkl: Ray writes it but never reads it back, and a trial's process writes it, so a driver
    killed just after a trial started would leave it unsealed."""
    if relpath.rsplit("/", 1)[-1] == "error.pkl":
        return True
    return ("/" not in relpath and relpath not in UNSEALED and not relpath.endswith(".tmp")
            and not relpath.startswith(STUDY_FILE))


def _filesystem(run_uri: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(run_uri)


def _covered_files(filesystem, root: str, errored: list[str] | None = None) -> dict[str, Any]:
    """relpath -> FileInfo of every covered file under root (symlinks followed by pyarrow as files).
    `errored`: the trial folders that may hold an error.pkl, when the caller knows them; then only the
    top of the run folder is listed, not every trial's files (a listing per step of Tune's loop would
    grow with the number of trials)."""
    import pyarrow.fs

    prefix = root.rstrip("/") + "/"
    if errored is None:
        infos = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    else:
        infos = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=False, allow_not_found=True))
        infos += [i for i in filesystem.get_file_info([f"{prefix}{name}/error.pkl" for name in errored])
                  if i.type == pyarrow.fs.FileType.File]
    files = {}
    for info in infos:
        relpath = info.path[len(prefix):] if info.path.startswith(prefix) else info.path
        if is_sealed(relpath) and info.type != pyarrow.fs.FileType.Directory:
            files[relpath] = info
    return files


def _digest(key: bytes, relpath: str, data: bytes) -> str:
    return hmac.new(key, relpath.encode() + b"\0" + data, hashlib.sha256).hexdigest()


def _manifest_mac(key: bytes, files: dict[str, list[str]]) -> str:
    return hmac.new(key, json.dumps({"version": 1, "files": files}, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def _read(filesystem, path: str) -> bytes:
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


class Sealer:
    """Records the covered files' digests; cheap to call often (a file is re-read only when its size or
    time changed). Holds no key: the key is read from its file at each seal, so nothing secret is
    pickled with the Tuner that carries this object."""

    def __init__(self, run_uri: str):
        self.run_uri = run_uri
        self._seen: dict[str, tuple[Any, int, str]] = {}
        self._versions: dict[str, list[str]] = {}

    def __getstate__(self):
        return {"run_uri": self.run_uri, "_seen": {}, "_versions": {}}

    def seal(self, staging_dir: str | None = None, errored: list[str] | None = None) -> None:
        """Digest the covered files of the run folder, and those in Ray's driver staging folder (the
        copies Ray is about to upload: sealed before they reach the run folder, so a driver killed
        between the two leaves nothing unsealed). `errored`: see `_covered_files` (None: list every
        file of the run folder). The seal file is rewritten only when a digest changed."""
        import pyarrow.fs

        filesystem, root = _filesystem(self.run_uri)
        key = run_key(create=True)
        changed = not self._versions
        if not self._versions:  # continue the seal already there (a resumed search keeps earlier versions)
            self._versions = {k: list(v) for k, v in (_load_seal(filesystem, root, key) or {}).items()}
        present = _covered_files(filesystem, root, errored)
        changed |= self._add(key, filesystem, present, "")
        staged: set[str] = set()
        if staging_dir and os.path.isdir(staging_dir):
            local = pyarrow.fs.LocalFileSystem()
            top = {k: v for k, v in _covered_files(local, staging_dir, []).items() if "/" not in k}
            changed |= self._add(key, local, top, "staging:")
            staged = set(top)
        # A file only staged so far (about to be uploaded) is not gone: its digest must outlive this seal.
        gone = set(self._versions) - set(present) - staged
        if errored is not None:  # a partial listing: only top-level files can be seen to be gone
            gone = {relpath for relpath in gone if "/" not in relpath}
        for relpath in gone:
            del self._versions[relpath]
        if changed or gone:
            write_run_json(self.run_uri, SEAL_FILE, {"version": 1, "files": self._versions,
                                                     "mac": _manifest_mac(key, self._versions)})

    def _add(self, key: bytes, filesystem, files: dict[str, Any], cache_prefix: str) -> bool:
        """Digest what is new or changed; True when any digest was added."""
        added = False
        for relpath, info in files.items():
            stamp = (info.mtime_ns, info.size)
            seen = self._seen.get(cache_prefix + relpath)
            if seen and seen[:2] == stamp:
                continue
            try:
                digest = _digest(key, relpath, _read(filesystem, info.path))
            except OSError:
                continue  # removed while being read: the next seal sees what is there
            self._seen[cache_prefix + relpath] = (*stamp, digest)
            previous = self._versions.get(relpath, [])
            added |= previous[:1] != [digest]
            self._versions[relpath] = [digest, *(d for d in previous if d != digest)][:VERSIONS_KEPT]
        return added


def _load_seal(filesystem, root: str, key: bytes) -> dict[str, list[str]] | None:
    import pyarrow.fs

    path = f"{root}/{SEAL_FILE}"
    if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    try:
        record = json.loads(_read(filesystem, path).decode())
        files, mac = record["files"], record["mac"]
        valid = isinstance(files, dict) and all(isinstance(v, list) and all(isinstance(d, str) for d in v) for v in files.values())
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError):
        valid = False
    if not valid or not isinstance(mac, str) or not hmac.compare_digest(mac, _manifest_mac(key, files)):
        raise FaceauthError(f"{root}/{SEAL_FILE} does not match the run key: the seal was altered, or the search was started "
                            f"with another key ({key_path()}). Resuming would unpickle files nobody vouches for; refused")
    return files


def verify_run_folder(run_uri: str) -> int:
    """Before a resume unpickles anything: every covered file in the run folder is one faceauth sealed,
    unchanged; none is missing and none added. Returns how many files were checked."""
    filesystem, root = _filesystem(run_uri)
    key = run_key(create=False)
    sealed = _load_seal(filesystem, root, key)
    if sealed is None:
        raise FaceauthError(f"{run_uri} has no {SEAL_FILE}: nothing vouches for the files a resume unpickles "
                            "(tuner.pkl, searcher state, experiment state), so it is refused. Start a new search under "
                            "another --name")
    present = _covered_files(filesystem, root)
    for relpath in sorted(present):
        if relpath not in sealed:
            raise FaceauthError(f"--resume refused: {run_uri}/{relpath} was not written by this search (it is not in "
                                f"{SEAL_FILE}); a resume would unpickle it. Remove it if you know where it came from")
        try:
            digest = _digest(key, relpath, _read(filesystem, present[relpath].path))
        except OSError as err:
            raise FaceauthError(f"--resume: cannot read {run_uri}/{relpath} ({err})") from None
        if digest not in sealed[relpath]:
            raise FaceauthError(f"--resume refused: {run_uri}/{relpath} was changed after this search wrote it (its "
                                f"digest does not match {SEAL_FILE}); a resume would unpickle it")
    missing = sorted(set(sealed) - set(present))
    if missing:
        raise FaceauthError(f"--resume refused: {run_uri}/{missing[0]} was written by this search but is missing")
    return len(present)


class SealCallback(Callback):
    """Keeps the seal current while the search runs: after every step of Tune's loop (in which Ray
    may have rewritten its state files; a step on a local disk costs a few stat calls), and once more
    when the experiment ends. Imported only where Ray is (ray.tune costs ~1 s)."""

    def __init__(self, run_uri: str):
        self.sealer = Sealer(run_uri)
        self.interval_s = 5.0 if "://" in run_uri else 0.0  # listing object storage costs requests
        self.last = 0.0

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self.last >= self.interval_s:
            # Only the trials that failed can hold an error.pkl: the step lists the top of the run folder
            # and those, not every trial's files.
            errored = [Path(t.path).name for t in trials if t.run_metadata.pickled_error_filename]
            self.sealer.seal(trials[0].storage.experiment_driver_staging_path if trials else None, errored)
            self.last = time.monotonic()

    def on_experiment_end(self, trials, **info):
        self.sealer.seal(trials[0].storage.experiment_driver_staging_path if trials else None)
