"""Trials under Ray Train (2 DDP workers) and across the nodes of a real multi-node Ray cluster."""

import json

import pytest
import ray
from ray.cluster_utils import Cluster

from faceauth import tune as tune_cli
from tests.run_readers import results_of, trials


@pytest.fixture
def two_node_cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.mark.slow  # a TorchTrainer with two gloo workers: 25 s of start-up on 2 cores
@pytest.mark.own_ray
def test_two_worker_ddp_trial_under_a_torch_trainer(tmp_path, tune):
    # 2 workers x 0.5 CPU + the trial driver's 0.01 fit on 2 cores (2 x 1 CPU would not: refused at start).
    assert tune.run("ddp", "--trials", "1", "--workers-per-trial", "2", "--cpus-per-worker", "0.5") == 0
    run = tmp_path / "runs" / "ddp"
    (row,) = trials(run)
    assert row["status"] == "completed" and row["last_workers"] == 2  # rank 0 saw a world of 2
    assert list((run / "train").iterdir())  # the TorchTrainer's own run folder, checkpoints inside
    metrics = json.loads((run / "best" / "metrics.json").read_text())
    assert metrics["onnx"]["max_abs_diff"] < 1e-4 and metrics["search"]["workers_per_trial"] == 2


@pytest.mark.usefixtures("shared_ray")  # 2 CPUs, no GPU: each request is refused against it
def test_unmeetable_resources_fail_at_start(tune, capsys):
    assert tune.run("too-big", "--workers-per-trial", "2") == 2
    assert "one trial needs 2 workers x 1 CPU plus 0.01 CPU" in capsys.readouterr().err
    assert tune.run("no-gpu", "--gpus-per-worker", "1") == 2
    assert "the Ray cluster has none" in capsys.readouterr().err
    assert tune.run("fat", "--cpus-per-worker", "64") == 2
    assert "more than any node has" in capsys.readouterr().err


@pytest.mark.slow  # about 25 s: a two-node Ray cluster and a search across it
@pytest.mark.own_ray
def test_search_across_two_nodes_with_uri_storage(tmp_path, mlp_only_space, two_node_cluster, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URI run keeps its best/ under ./runs too
    storage = f"file://{tmp_path / 'shared'}"
    # 40 epochs (a few seconds): long enough that the two trials overlap by whole seconds of Tune timestamps.
    args = ["fusion", "--smoke-test", "--trials", "2", "--epochs", "40", "--patience", "0", "--scheduler", "none",
            "--search-space", mlp_only_space(), "--address", two_node_cluster.address, "--storage", storage, "--name", "multi", "--log-dir", str(tmp_path)]
    assert tune_cli.main(args) == 0
    run = tmp_path / "shared" / "multi"
    rows = trials(run)
    assert len(rows) == 2 and all(r["status"] == "completed" for r in rows)
    assert (run / "best" / "model.onnx").exists() and (run / "best" / "metrics.json").exists()
    # Each node has one CPU and each trial takes one: running side by side means one trial per node.
    spans = [(lines[0]["timestamp"], lines[-1]["timestamp"]) for lines in (results_of(d) for d in run.glob("fusion_*"))]
    (a0, a1), (b0, b1) = spans
    assert a0 <= b1 and b0 <= a1


@pytest.mark.own_ray
def test_local_storage_is_refused_on_a_multi_node_cluster(tmp_path, two_node_cluster, capsys):
    args = ["fusion", "--smoke-test", "--address", two_node_cluster.address, "--storage", str(tmp_path / "runs"),
            "--name", "refused"]
    assert tune_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "has 2 nodes" in err and "--storage s3://" in err
    assert not (tmp_path / "runs" / "refused").exists()


@pytest.mark.own_ray
@pytest.mark.slow  # a two-node cluster on 2 cores and a lost node's trial retried: about 90 s
def test_a_node_lost_mid_search_loses_no_trial(tmp_path, mlp_only_space, monkeypatch):
    """The worker node leaves while a trial trains on it: Tune retries that trial from its last
    checkpoint on the nodes left, the search completes, and trials.parquet has every trial once."""
    import threading
    import time

    monkeypatch.chdir(tmp_path)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    run = tmp_path / "shared" / "lost"

    raylet = worker.all_processes["raylet"][0].process.pid

    def on_the_worker_node(pid: int) -> bool:
        """Whether a trial's process descends from the worker node's raylet (it starts the node's workers)."""
        while pid > 1:
            try:
                pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return False
            if pid == raylet:
                return True
        return False

    def lose_the_worker_while_a_trial_trains_there() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for folder in run.glob("fusion_*"):
                lines = results_of(folder)
                # It reported its start (epoch 0, with a checkpoint) and trains on: lose its node now.
                if lines and not lines[-1].get("completed") and on_the_worker_node(lines[-1]["pid"]):
                    cluster.remove_node(worker)
                    return
            time.sleep(0.1)

    remover = threading.Thread(target=lose_the_worker_while_a_trial_trains_there, daemon=True)
    remover.start()
    try:
        # Whole epochs of more data than the smoke test's: a trial trains for seconds, long enough to lose its node.
        args = ["fusion", "--smoke-test", "--trials", "3", "--epochs", "30", "--patience", "0", "--scheduler", "none",
                "--max-steps-per-epoch", "0", "--num_identities", "200", "--samples_per_id", "20",
                "--search-space", mlp_only_space(), "--address", cluster.address,
                "--storage", f"file://{tmp_path / 'shared'}", "--name", "lost", "--max-failures", "3",
                "--log-dir", str(tmp_path)]
        assert tune_cli.main(args) == 0
    finally:
        remover.join(timeout=1)
        ray.shutdown()
        cluster.shutdown()
    rows = trials(run)
    assert sorted(r["trial_name"] for r in rows) == ["fusion_0000", "fusion_0001", "fusion_0002"]  # each once
    assert all(r["status"] == "completed" and r["epochs_run"] == 30 for r in rows)
    # The lost trial came back from its checkpoint: its results restart counting (iterations_since_restore)
    # past the first epoch instead of starting over.
    restored = [f.name for f in run.glob("fusion_*")
                if any(r["iterations_since_restore"] < r["training_iteration"] for r in results_of(f))]
    assert restored, "no trial was lost and restored; the node left too late"
