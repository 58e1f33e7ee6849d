"""File helpers every task shares (faceauth.io.files): a file's SHA-256 (remembered per path, size and
time; an unreadable file named), the exclusive lock, a folder generated once under that lock (never
half-written, never twice), and the bounded listing of bad files in error messages."""

import os
import threading

import pytest

from faceauth.io.errors import FaceauthError
from faceauth.io.files import bounded_lines, file_sha256, generated_once, locked

# SHA-256 test vectors (FIPS 180-2): the empty message and "abc".
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_file_sha256_of_known_contents(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "empty") == EMPTY_SHA256
    assert file_sha256(str(tmp_path / "abc")) == ABC_SHA256


def test_file_sha256_reads_a_file_again_once_it_changed(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    assert file_sha256(path) == EMPTY_SHA256
    path.write_bytes(b"abc")
    assert file_sha256(path) == ABC_SHA256


def test_file_sha256_remembers_a_file_whose_size_and_time_are_unchanged(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"abc")
    stamp = path.stat().st_mtime_ns
    assert file_sha256(path) == ABC_SHA256
    path.write_bytes(b"xyz")  # same size; the time set back: the memo answers without reading
    os.utime(path, ns=(stamp, stamp))
    assert file_sha256(path) == ABC_SHA256


def test_an_unreadable_file_is_named_with_what_it_is(tmp_path):
    with pytest.raises(FaceauthError) as raised:
        file_sha256(tmp_path / "missing.onnx", "model file")
    assert str(raised.value) == (f"cannot read the model file {tmp_path / 'missing.onnx'} (No such file or directory); "
                                 "check the path and its permissions")
    (tmp_path / "folder").mkdir()
    with pytest.raises(FaceauthError, match=r"^cannot read the file .*folder \(Is a directory\)"):
        file_sha256(tmp_path / "folder")


def test_a_held_lock_keeps_another_holder_waiting_until_it_is_released(tmp_path):
    lock = tmp_path / "data.lock"
    order, entered = [], threading.Event()

    def second():
        with locked(lock):
            order.append("second")
            entered.set()

    with locked(lock):
        assert lock.exists()  # created on first use
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.2)  # blocked while the first holds it
        order.append("first released")
    assert entered.wait(5)
    thread.join(5)
    assert order == ["first released", "second"]


def test_a_folder_is_generated_once_and_then_left_as_it_is(tmp_path):
    target = tmp_path / "cache" / "features"
    calls = []

    def write(folder):
        calls.append(folder)
        folder.mkdir()
        (folder / "part-0.npy").write_bytes(b"data")

    assert generated_once(target, write) is True
    assert generated_once(target, write) is False
    assert len(calls) == 1 and calls[0].name == f".features.tmp-{os.getpid()}"  # written beside, then renamed
    assert (target / "part-0.npy").read_bytes() == b"data"
    assert sorted(p.name for p in target.parent.iterdir()) == ["features", "features.lock"]


def test_a_failed_write_leaves_no_folder_and_the_next_call_writes_it(tmp_path):
    target = tmp_path / "features"

    def fails(folder):
        folder.mkdir()
        (folder / "half.npy").write_bytes(b"ha")
        raise MemoryError("out of memory half way")

    with pytest.raises(MemoryError, match="half way"):
        generated_once(target, fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.lock"]  # no target, no temporary folder
    assert generated_once(target, lambda folder: folder.mkdir()) is True and target.is_dir()


def test_what_an_interrupted_earlier_write_left_is_removed_first(tmp_path):
    target = tmp_path / "features"
    leftover = tmp_path / f".features.tmp-{os.getpid()}"
    leftover.mkdir()
    (leftover / "stale.npy").write_bytes(b"old")

    def write(folder):
        assert not folder.exists()  # starts from nothing, not from the stale files
        folder.mkdir()

    assert generated_once(target, write) is True
    assert list(target.iterdir()) == [] and not leftover.exists()


def test_a_folder_written_while_waiting_for_the_lock_is_not_written_again(tmp_path):
    target = tmp_path / "features"
    calls, done = [], {}

    def waiter():
        done["result"] = generated_once(target, calls.append)

    with locked(tmp_path / "features.lock"):  # another process is writing it
        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(0.2)
        assert thread.is_alive()
        target.mkdir()
    thread.join(5)
    assert done == {"result": False} and calls == []


def test_bounded_lines_lists_the_first_ones_and_counts_the_rest():
    lines = [f"  bad{i}.png" for i in range(5)]
    assert bounded_lines(lines, 2) == ["  bad0.png", "  bad1.png", "  ... and 3 more"]
    assert bounded_lines(lines, 5) == lines and bounded_lines(lines, 4)[-1] == "  ... and 1 more"
    assert bounded_lines(lines, None) == lines
    assert bounded_lines([], 3) == []
    assert len(bounded_lines([f"f{i}" for i in range(120)])) == 51  # default: 50, then the count
    assert bounded_lines(tuple(lines), 10) == lines  # a list whatever came in
