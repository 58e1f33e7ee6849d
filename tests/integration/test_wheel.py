"""The package as a user installs it: a wheel built from this tree, installed into a fresh venv, run
from a folder outside the checkout. The venv reuses the installed dependencies through a .pth file
(so no download), but faceauth itself, its search spaces and its example config come from the wheel."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.run_readers import ROOT

pytestmark = pytest.mark.slow  # a wheel build and a smoke search in a new interpreter: about a minute

CHECK = """
import json, sys, faceauth, optuna
from optuna_dashboard._storage_url import get_storage
from mlflow.tracking import MlflowClient
from faceauth.commands.cli import EXAMPLE_CONFIG
from faceauth.tuning.space import SEARCH_SPACES_DIR
run, store = sys.argv[1], sys.argv[2]
study = optuna.load_study(study_name="wheel", storage=get_storage(run + "/optuna-study.log"))  # as optuna-dashboard opens it
client = MlflowClient(tracking_uri=store)
runs = client.search_runs([client.get_experiment_by_name("wheel").experiment_id])
print(json.dumps({"faceauth": faceauth.__file__, "spaces": str(SEARCH_SPACES_DIR), "example": EXAMPLE_CONFIG.is_file(),
                  "complete": sum(t.state.name == "COMPLETE" for t in study.trials), "mlflow_runs": len(runs)}))
"""


def test_wheel_installs_and_searches_outside_the_checkout(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", "logs", "weights", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("faceauth-*.whl"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "faceauth-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the venv's own
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, timeout=300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    search = subprocess.run([venv / "bin" / "faceauth", "tune", "fusion", "--smoke-test", "--no-dashboard", "--num-cpus", "2",
                             "--name", "wheel", "--mlflow", "mlruns"], cwd=work, env=env, capture_output=True, text=True,
                            timeout=600)
    assert search.returncode == 0, search.stdout[-3000:] + search.stderr[-3000:]
    assert (work / "runs" / "wheel" / "best" / "model.onnx").is_file()

    # The MLflow client a user opens on the folder store needs this, as docs/tracking.md says (MLflow 3).
    check = subprocess.run([python, "-c", CHECK, str(work / "runs" / "wheel"), (work / "mlruns").as_uri()],
                           cwd=work, env={**env, "MLFLOW_ALLOW_FILE_STORE": "true"}, capture_output=True, text=True,
                           timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    found = json.loads(check.stdout.strip().splitlines()[-1])
    assert found["faceauth"].startswith(str(site)) and found["spaces"].startswith(str(site))
    assert found["example"] and found["complete"] == 2 and found["mlflow_runs"] == 2
