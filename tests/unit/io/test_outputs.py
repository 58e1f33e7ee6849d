"""Outputs that are not files, or are one of the command's inputs, are refused before any work."""

import os
import stat

import pytest

from faceauth import evaluate as evaluate_cli
from faceauth import export as export_cli
from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint


@pytest.fixture
def trained(tmp_path):
    out = tmp_path / "m.pth"
    assert train_cli.main(["fusion", "--synthetic", "--epochs", "1", "--num-identities", "30", "--samples-per-id", "6",
                           "--output", str(out), "--log-dir", str(tmp_path / "logs")]) == 0
    return out


def test_export_onto_its_own_checkpoint_is_refused_and_the_checkpoint_kept(trained, capsys):
    before = trained.read_bytes()
    assert export_cli.main(["--model-path", str(trained), "--output-path", str(trained)]) == 2
    assert "is also an input of this command" in capsys.readouterr().err
    assert trained.read_bytes() == before and load_checkpoint(trained)["task"] == "fusion"


def test_evaluate_output_onto_its_test_data_is_refused(tmp_path, trained, capsys):
    from faceauth.tasks.fusion import synthetic

    synthetic.write_dataset(tmp_path / "d", synthetic.regime("default"), 10, 4, 3, seed=0)
    test = tmp_path / "d" / "test.parquet"
    before = test.read_bytes()
    assert evaluate_cli.main(["--model-path", str(trained), "--test-data", str(test), "--output-json", str(test)]) == 2
    assert "is also an input" in capsys.readouterr().err and test.read_bytes() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_a_device_or_a_directory_as_output_is_refused_before_training(tmp_path, capsys):
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null, never the machine's own
    for target, words in ((device, "device or other special file"), (tmp_path, "is a directory")):
        assert train_cli.main(["fusion", "--synthetic", "--output", str(target), "--log-dir", str(tmp_path / "logs")]) == 2
        assert words in capsys.readouterr().err
    assert stat.S_ISCHR(os.stat(device).st_mode)  # still a device
    assert not (tmp_path / "logs").exists()  # refused before the run started


def test_an_output_inside_a_file_is_refused(tmp_path, trained, capsys):
    assert export_cli.main(["--model-path", str(trained), "--output-path", str(trained / "model.onnx")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_ctrl_c_keeps_the_best_model_so_far(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "m.pth"
    proc = subprocess.Popen([sys.executable, "-m", "faceauth.train", "fusion", "--synthetic", "--epochs", "1000",
                             "--patience", "0", "--output", str(out), "--log-dir", str(tmp_path / "logs")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)  # a few training epochs
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert load_checkpoint(out)["task"] == "fusion"  # the best so far, whole
