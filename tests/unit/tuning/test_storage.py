"""Where a search keeps its run (faceauth.tuning.storage): the filesystem type of a folder (from
/proc/mounts: the longest mount point holding it), the refusal of a local folder for a cluster of
several nodes, and the search settings a run records: written, read back and compared on --resume,
refusing a different task, space or data with a message naming the run and each difference."""

import json
from pathlib import Path

import pytest

from faceauth.io.errors import FaceauthError
from faceauth.tuning.objectives import Constraint
from faceauth.tuning.space import Parameter, SearchSpace
from faceauth.tuning.storage import (ASSUME_SHARED_ENV, SETTINGS_FILE, check_same_search, check_shared_storage,
                                     filesystem_type, read_settings, search_settings, write_settings)


def test_proc_is_a_proc_filesystem_and_a_missing_folder_takes_its_parents_type(tmp_path):
    assert filesystem_type("/proc") == "proc" and filesystem_type("/proc/self/status") == "proc"
    kind = filesystem_type(tmp_path)
    assert kind not in ("unknown", "proc")
    assert filesystem_type(tmp_path / "runs" / "not-yet") == kind  # a --storage folder not made yet
    assert filesystem_type(str(tmp_path)) == kind


def _mounts(monkeypatch, text):
    """/proc/mounts as `text` (an OSError: unreadable), every other path as it is."""
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        if str(self) == "/proc/mounts":
            if isinstance(text, OSError):
                raise text
            return text
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


@pytest.fixture
def folders(tmp_path):
    for name in ("shared/runs", "shared/local/runs", "sharedness", "my runs/a"):
        (tmp_path / name).mkdir(parents=True)
    return tmp_path


def test_the_longest_mount_point_holding_a_folder_gives_its_type(folders, monkeypatch):
    _mounts(monkeypatch, f"/dev/vda / ext4 rw 0 0\n"
                         f"server:/export {folders}/shared nfs4 rw 0 0\n"
                         f"/dev/vdb {folders}/shared/local xfs rw 0 0\n"
                         f"fs-1 {str(folders).replace(' ', chr(92) + '040')}/my\\040runs fuse.s3fs rw 0 0\n"
                         "a line too short\n")
    assert filesystem_type(folders / "shared" / "runs") == "nfs4"
    assert filesystem_type(folders / "shared") == "nfs4"  # the mount point itself
    assert filesystem_type(folders / "shared" / "local" / "runs") == "xfs"  # a mount inside the share
    assert filesystem_type(folders / "sharedness") == "ext4"  # a name that merely starts like the mount point
    assert filesystem_type(folders / "my runs" / "a") == "fuse.s3fs"  # \040 is a space in /proc/mounts


def test_unreadable_mounts_give_an_unknown_type(tmp_path, monkeypatch):
    _mounts(monkeypatch, PermissionError(13, "Permission denied"))
    assert filesystem_type(tmp_path) == "unknown"


def test_several_nodes_need_storage_every_node_shares(folders, monkeypatch):
    monkeypatch.delenv(ASSUME_SHARED_ENV, raising=False)
    _mounts(monkeypatch, f"/dev/vda / ext4 rw 0 0\nserver:/export {folders}/shared nfs4 rw 0 0\n")
    local = str(folders / "sharedness")
    with pytest.raises(FaceauthError) as raised:
        check_shared_storage(local, 3)
    message = str(raised.value)
    assert message.startswith(f"the Ray cluster has 3 nodes but --storage {local} is a local folder (ext4 filesystem): ")
    assert "--storage s3://bucket/runs" in message
    assert message.endswith(f"If {local} is shared but of another type, set FACEAUTH_SHARED_STORAGE=1")
    check_shared_storage(local, 1)  # one node: its own disk will do
    check_shared_storage(str(folders / "shared" / "runs"), 3)  # NFS
    check_shared_storage("s3://bucket/runs", 3)
    check_shared_storage("file:///anywhere/runs", 3)  # a URI is taken as given
    monkeypatch.setenv(ASSUME_SHARED_ENV, "1")
    check_shared_storage(local, 3)  # the user vouches for a share of a type not listed


def _space(high: float = 1e-2, constraints=(Constraint("onnx_latency_ms", "<=", 2.5),)) -> SearchSpace:
    return SearchSpace(path="spaces/fusion.yaml", metric="eer", mode="min",
                       parameters={"lr": Parameter("lr", "log_float", 1e-4, high, default=1e-3),
                                   "loss": Parameter("loss", "categorical", choices=("triplet", "arcface"))},
                       fixed={"epochs": 3}, constraints=constraints)


BASE = {"data_dir": "/data/faces", "synthetic": False, "data_seed": 7, "epochs": 3, "batch_size": 64}


def test_search_settings_record_the_task_space_and_data():
    settings = search_settings("fusion", 20, _space(), BASE, ("data_dir",))
    assert settings == {
        "task": "fusion", "trials": 20, "metric": "eer", "mode": "min",
        "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2, "step": None, "choices": (),
                              "default": 1e-3, "when": {}},
                       "loss": {"type": "categorical", "low": None, "high": None, "step": None,
                                "choices": ("triplet", "arcface"), "default": None, "when": {}}},
        "objectives": ["eer:min"], "constraints": ["onnx_latency_ms<=2.5"], "fixed": {"epochs": 3},
        # The data: the task's data keys and the synthetic switches present in the base, not the rest.
        "data": {"data_dir": "/data/faces", "data_seed": 7, "synthetic": False},
        "base": BASE, "space_path": "spaces/fusion.yaml", "smoke_test": False,
    }
    assert list(settings["data"]) == ["data_dir", "data_seed", "synthetic"]  # sorted


def test_settings_written_to_a_run_folder_read_back_as_json(tmp_path):
    run = str(tmp_path / "runs" / "search")
    settings = search_settings("fusion", 20, _space(), BASE, ("data_dir",), smoke_test=True)
    write_settings(run, settings)
    assert sorted(p.name for p in (tmp_path / "runs" / "search").iterdir()) == [SETTINGS_FILE]  # no .tmp left
    read = read_settings(run)
    assert read["parameters"]["loss"]["choices"] == ["triplet", "arcface"]  # JSON: tuples are lists
    assert read["smoke_test"] is True and read["trials"] == 20 and read["base"] == BASE
    assert read == json.loads(json.dumps(settings))
    assert read_settings(str(tmp_path / "runs" / "other")) is None  # a run that recorded none


@pytest.mark.parametrize("content, words", [
    ("{not json", "is unreadable"),
    (b"\xff\xfe\x00", "is unreadable"),
    ("[1, 2]", "is not a faceauth search record"),
    ('{"task": "fusion"}', "is not a faceauth search record"),
    ('{"task": "fusion", "trials": "20"}', "is not a faceauth search record"),
])
def test_a_damaged_settings_file_is_named(tmp_path, content, words):
    (tmp_path / SETTINGS_FILE).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(FaceauthError, match=f"^{tmp_path}/{SETTINGS_FILE} {words}"):
        read_settings(str(tmp_path))


def _recorded() -> dict:
    return json.loads(json.dumps(search_settings("fusion", 20, _space(), BASE, ("data_dir",))))


def test_the_same_search_resumes_whatever_its_budget_and_base():
    current = search_settings("fusion", 20, _space(), BASE, ("data_dir",))  # tuples, as a search makes them
    check_same_search(_recorded(), current, "runs/search")
    more = search_settings("fusion", 50, _space(), {**BASE, "batch_size": 32}, ("data_dir",), smoke_test=True)
    check_same_search(_recorded(), more, "runs/search")  # the budget and the base are the caller's to check


def test_a_different_task_space_or_data_is_refused_naming_the_run_and_what_differs():
    with pytest.raises(FaceauthError) as raised:
        check_same_search(_recorded(), {**_recorded(), "task": "liveness"}, "/srv/runs/search")
    assert str(raised.value) == ('--resume: /srv/runs/search is a different search (task: was "fusion", now "liveness"). '
                                 "Resume it with the settings it was started with, or start a new search under another --name")
    wider = search_settings("fusion", 20, _space(high=0.1), BASE, ("data_dir",))
    with pytest.raises(FaceauthError, match=r"is a different search \(parameters: was .*\"high\": 0\.01.*, now .*\"high\": 0\.1"):
        check_same_search(_recorded(), wider, "runs/search")
    moved = search_settings("fusion", 20, _space(), {**BASE, "data_dir": "/data/other"}, ("data_dir",))
    with pytest.raises(FaceauthError) as raised:
        check_same_search(_recorded(), {**moved, "mode": "max"}, "runs/search")
    # Each difference, in the order task, metric, mode, parameters, fixed, data, objectives, constraints.
    assert '(mode: was "min", now "max"; data: was {"data_dir": "/data/faces", ' in str(raised.value)
    assert 'now {"data_dir": "/data/other", "data_seed": 7, "synthetic": false})' in str(raised.value)


def test_a_run_recorded_before_objectives_and_constraints_had_the_one_metric_and_none():
    old = {k: v for k, v in _recorded().items() if k not in ("objectives", "constraints")}
    check_same_search(old, search_settings("fusion", 20, _space(constraints=()), BASE, ("data_dir",)), "runs/old")
    with pytest.raises(FaceauthError, match=r"\(constraints: was .*, now \[\"onnx_latency_ms<=2.5\"\]\)\. Resume it"):
        check_same_search(old, search_settings("fusion", 20, _space(), BASE, ("data_dir",)), "runs/old")
