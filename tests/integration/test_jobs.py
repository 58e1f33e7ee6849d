"""A search submitted as a Ray job to a head node started here, with token authentication on, read
back through the dashboard's REST API (the way a cluster user runs it, on 127.0.0.1)."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.run_readers import ROOT, trials

RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture
def head_node(tmp_path, free_port, wait_for):
    """`ray start --head --block` on free ports, dashboard bound to 127.0.0.1; stopped afterwards by
    ending that one process (not `ray stop`, which would end every Ray on the machine)."""
    port, dashboard = free_port(), free_port()
    # The job's `python` must be this environment's, as on a cluster whose nodes installed faceauth.
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--num-cpus", "2", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
         "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
         "--min-worker-port", "20000", "--max-worker-port", "29999"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{dashboard}"
    token = Path.home().joinpath(".ray", "auth_token")
    headers = lambda: {"Authorization": f"Bearer {token.read_text().strip()}"}  # noqa: E731
    try:
        wait_for(lambda: token.exists() and _up(url, headers()), 120, "the head node's dashboard", poll=1)
        yield {"url": url, "headers": headers(), "env": env, "address": f"127.0.0.1:{port}"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _up(url: str, headers: dict) -> bool:
    try:
        return requests.get(f"{url}/api/version", headers=headers, timeout=5).status_code == 200
    except requests.RequestException:
        return False


# A head node started with `ray start`, a job submitted through the REST API: 25-30 s on 2 cores, with the
# slow tests (the in-process searches of the default run cover the search itself).
@pytest.mark.slow
def test_search_submitted_as_a_job_with_token_auth(tmp_path, head_node, wait_for):
    url, headers = head_node["url"], head_node["headers"]
    assert requests.get(f"{url}/api/jobs/", timeout=10).status_code == 401  # no token, no API

    storage = tmp_path / "runs"
    entrypoint = (f"python -m faceauth.tune fusion --smoke-test --address auto --name job --storage {storage} "
                  f"--log-dir {tmp_path / 'logs'}")
    submit = subprocess.run(
        [RAY, "job", "submit", "--address", url, "--working-dir", str(ROOT), "--no-wait",
         "--runtime-env-json", '{"excludes": [".venv", ".git", "runs", "logs", "weights", "benchmarks/results"]}',
         "--", *entrypoint.split()],
        env=head_node["env"], capture_output=True, text=True, timeout=120)
    assert submit.returncode == 0, submit.stderr
    job_id = re.search(r"raysubmit_\w+", submit.stdout).group(0)

    def finished():
        info = requests.get(f"{url}/api/jobs/{job_id}", headers=headers, timeout=10).json()
        return info if info["status"] in ("SUCCEEDED", "FAILED", "STOPPED") else None

    info = wait_for(finished, 300, "the job to finish", poll=2)
    logs = requests.get(f"{url}/api/jobs/{job_id}/logs", headers=headers, timeout=10).json()["logs"]
    assert info["status"] == "SUCCEEDED", logs[-3000:]
    assert "best trial" in logs and "wrote" in logs
    assert len(trials(storage / "job")) == 2
    assert (storage / "job" / "best" / "model.onnx").exists()


# A head node started with `ray start` (10-15 s): with the slow tests.
@pytest.mark.slow
def test_a_refused_token_is_named_at_once(tmp_path, head_node):
    """Joining without the token mode, as a user who has not exported RAY_AUTH_MODE: the search says
    that the token was refused and where it looked, in seconds, without Ray's 20 s of retry lines."""
    env = {k: v for k, v in head_node["env"].items() if k != "RAY_AUTH_MODE"}
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "faceauth.tune", "fusion", "--smoke-test", "--address", head_node["address"],
                          "--storage", str(tmp_path / "runs")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert time.monotonic() - started < 15
    assert "refused this machine's Ray token" in run.stderr and "export RAY_AUTH_MODE=token (it is not set)" in run.stderr
    assert str(Path.home() / ".ray" / "auth_token") in run.stderr and "ray get-auth-token" in run.stderr
    assert "gcs_client.cc" not in run.stderr + run.stdout  # none of Ray's retry lines
    assert not (tmp_path / "runs").exists()
