"""The pieces of a run folder's seal (faceauth.tuning.seal) on hand-made folders, no Ray started: where
the key lives and when it is refused, which files are sealed, and a sealed folder checked: a file
changed, added or removed after the seal, an altered seal or another key, each refused naming the
file. tests/integration/test_resume.py checks the seal end to end on a real search."""

import json
import os
import pickle
import stat

import pytest

from faceauth.io.errors import FaceauthError
from faceauth.tuning.result import STUDY_FILE
from faceauth.tuning.seal import KEY_ENV, SEAL_FILE, Sealer, is_sealed, key_path, run_key, verify_run_folder


@pytest.fixture
def key(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "run-key"
    monkeypatch.setenv(KEY_ENV, str(path))
    return path


def test_the_key_is_where_the_environment_or_the_config_folder_says(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "~/keys/mine")
    assert key_path() == tmp_path.home() / "keys" / "mine"
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert key_path() == tmp_path / "config" / "faceauth" / "run-key"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert key_path() == tmp_path / "home" / ".config" / "faceauth" / "run-key"


def test_a_key_is_made_once_private_and_then_read_back(key):
    with pytest.raises(FaceauthError, match=f"^the run key {key} is missing, so the run folder's seal cannot be checked"):
        run_key(create=False)
    made = run_key(create=True)
    assert len(made) == 32 and key.read_bytes() == made
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert run_key(create=True) == made and run_key(create=False) == made  # not made again


def test_a_key_others_can_read_or_a_short_one_is_refused(key):
    run_key(create=True)
    os.chmod(key, 0o644)
    with pytest.raises(FaceauthError, match=f"readable or writable by other users .*; run `chmod 600 {key}`"):
        run_key(create=False)
    os.chmod(key, 0o600)
    key.write_bytes(b"0123456789abcde")  # 15 bytes
    with pytest.raises(FaceauthError, match="shorter than 16 bytes; delete it and a new one is made"):
        run_key(create=False)


@pytest.mark.parametrize("relpath, sealed", [
    ("tuner.pkl", True), ("experiment_state-2026-01-01_00-00-00.json", True), ("searcher-state-2026.pkl", True),
    ("basic-variant-state-2026.json", True), ("faceauth-search.json", True), ("fusion_0003/error.pkl", True),
    (SEAL_FILE, False), ("trials.parquet", False), ("tuner.pkl.tmp", False), (STUDY_FILE, False),
    (STUDY_FILE + ".lock", False), ("fusion_0003/params.pkl", False), ("fusion_0003/result.json", False),
    ("best/model.pt", False),
])
def test_which_files_are_sealed(relpath, sealed):
    assert is_sealed(relpath) is sealed


@pytest.fixture
def run(tmp_path, key):
    """A run folder as Ray leaves it: state at the top, a failed trial's error.pkl, faceauth's own files."""
    folder = tmp_path / "runs" / "search"
    (folder / "fusion_0001").mkdir(parents=True)
    (folder / "tuner.pkl").write_bytes(b"tuner v1")
    (folder / "searcher-state-1.pkl").write_bytes(b"searcher")
    (folder / "fusion_0001" / "error.pkl").write_bytes(b"error")
    (folder / "fusion_0001" / "params.pkl").write_bytes(b"params")
    (folder / "trials.parquet").write_bytes(b"table")
    Sealer(str(folder)).seal()
    return folder


def test_a_sealed_folder_passes_and_unsealed_files_may_change(run):
    assert verify_run_folder(str(run)) == 3  # tuner.pkl, searcher-state-1.pkl, fusion_0001/error.pkl
    (run / "trials.parquet").write_bytes(b"rewritten after the search")
    (run / "fusion_0001" / "params.pkl").write_bytes(b"written by the trial")
    assert verify_run_folder(str(run)) == 3


def test_a_changed_file_is_refused_by_name(run):
    (run / "tuner.pkl").write_bytes(b"tuner v1 with a planted reduce")
    with pytest.raises(FaceauthError, match=f"^--resume refused: {run}/tuner.pkl was changed after this search wrote it"):
        verify_run_folder(str(run))


def test_a_changed_error_pickle_in_a_trial_folder_is_refused(run):
    (run / "fusion_0001" / "error.pkl").write_bytes(b"other")
    with pytest.raises(FaceauthError, match="fusion_0001/error.pkl was changed after this search wrote it"):
        verify_run_folder(str(run))


def test_an_added_file_is_refused_by_name(run):
    (run / "callback-states-9.pkl").write_bytes(b"planted")
    with pytest.raises(FaceauthError, match=f"{run}/callback-states-9.pkl was not written by this search"):
        verify_run_folder(str(run))


def test_a_removed_file_is_refused_by_name(run):
    (run / "searcher-state-1.pkl").unlink()
    with pytest.raises(FaceauthError, match=f"^--resume refused: {run}/searcher-state-1.pkl was written by this search but is missing$"):
        verify_run_folder(str(run))


def test_a_folder_without_a_seal_is_refused(tmp_path, key):
    run_key(create=True)
    (tmp_path / "tuner.pkl").write_bytes(b"tuner")
    with pytest.raises(FaceauthError, match=f"^{tmp_path} has no {SEAL_FILE}: nothing vouches for the files"):
        verify_run_folder(str(tmp_path))


def test_an_edited_seal_or_another_key_is_refused(run, key):
    seal = run / SEAL_FILE
    original = seal.read_text()
    record = json.loads(original)
    planted = b"tuner with a planted reduce"
    (run / "tuner.pkl").write_bytes(planted)
    # Whoever plants a file cannot digest it without the key; a digest copied from another file fails the seal's mac.
    record["files"]["tuner.pkl"] = record["files"]["searcher-state-1.pkl"]
    for edited in (json.dumps(record), original[:-10], "[]"):
        seal.write_text(edited)
        with pytest.raises(FaceauthError, match=f"^{run}/{SEAL_FILE} does not match the run key: the seal was altered"):
            verify_run_folder(str(run))
    (run / "tuner.pkl").write_bytes(b"tuner v1")
    seal.write_text(original)
    assert verify_run_folder(str(run)) == 3
    key.write_bytes(b"another key of 32 bytes, not it!")
    with pytest.raises(FaceauthError, match=f"does not match the run key.*another key \\({key}\\)"):
        verify_run_folder(str(run))


def test_a_file_rewritten_keeps_its_last_three_versions(run):
    sealer = Sealer(str(run))  # a new sealer continues the seal already there
    for version in ("tuner v2 ", "tuner v3   ", "tuner v4       "):  # each a different size
        (run / "tuner.pkl").write_bytes(version.encode())
        sealer.seal()
    assert verify_run_folder(str(run)) == 3
    (run / "tuner.pkl").write_bytes(b"tuner v2 ")  # Ray's copy in storage may lag the seal a version or two
    assert verify_run_folder(str(run)) == 3
    (run / "tuner.pkl").write_bytes(b"tuner v1")  # four versions back: no longer vouched for
    with pytest.raises(FaceauthError, match="tuner.pkl was changed after this search wrote it"):
        verify_run_folder(str(run))


def test_a_file_removed_before_the_next_seal_leaves_it(run):
    (run / "searcher-state-1.pkl").unlink()
    (run / "searcher-state-2.pkl").write_bytes(b"searcher 2")  # Ray keeps the newest state file only
    Sealer(str(run)).seal()
    assert verify_run_folder(str(run)) == 3


def test_a_staged_copy_is_sealed_before_it_replaces_the_run_folders_file(run, tmp_path):
    staging = tmp_path / "staging"
    (staging / "fusion_0002").mkdir(parents=True)
    (staging / "tuner.pkl").write_bytes(b"tuner v2, staged")
    (staging / "fusion_0002" / "error.pkl").write_bytes(b"only the top of the staging folder is sealed")
    Sealer(str(run)).seal(str(staging), errored=[])
    (run / "tuner.pkl").write_bytes(b"tuner v2, staged")  # Ray's upload, after the seal
    assert verify_run_folder(str(run)) == 3
    (run / "fusion_0002").mkdir()
    (run / "fusion_0002" / "error.pkl").write_bytes(b"only the top of the staging folder is sealed")
    with pytest.raises(FaceauthError, match="fusion_0002/error.pkl was not written by this search"):
        verify_run_folder(str(run))


def test_a_new_file_only_staged_so_far_stays_sealed_until_it_is_uploaded(run, tmp_path):
    """A state file Ray writes for the first time is in its staging folder before the run folder: its
    digest must survive the seal that saw only the staged copy (a driver killed right after would
    otherwise leave a run folder its own resume refuses)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "experiment_state-2.json").write_bytes(b"{}")
    Sealer(str(run)).seal(str(staging), errored=[])
    (run / "experiment_state-2.json").write_bytes(b"{}")  # Ray's upload, after the seal
    assert verify_run_folder(str(run)) == 4


def test_a_sealer_carries_no_digests_or_key_when_pickled(run, key):
    sealer = Sealer(str(run))
    sealer.seal()
    assert sealer._versions  # it holds the digests while it runs
    copy = pickle.loads(pickle.dumps(sealer))
    assert (copy.run_uri, copy._seen, copy._versions) == (str(run), {}, {})
    assert key.read_bytes() not in pickle.dumps(sealer)
