"""The Ray dashboard shows a search: the driver is a job named after the task and the run (read
through the Jobs API), and every trial's epoch and objective reach the node's Prometheus endpoint as
Ray custom metrics while the search runs. The Grafana dashboard in cluster/ queries only those."""

import json
import math
import re
import threading
import time
from collections import defaultdict

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from faceauth import tune as tune_cli
from faceauth.tuning.live_metrics import PROMETHEUS_PREFIX, TAG_KEYS, TrialMetrics, prometheus_names
from tests.run_readers import ROOT, results_of, trials

pytestmark = pytest.mark.own_ray  # each test starts a Ray (or a cluster) of its own

GRAFANA = ROOT / "cluster" / "grafana-faceauth-search.json"


def queried_metrics(dashboard: dict) -> set[str]:
    """Every metric name a panel or a template variable of the dashboard asks Prometheus for."""
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        queries.append(query["query"] if isinstance(query, dict) else "")
    return {name for query in queries for name in re.findall(rf"\b{PROMETHEUS_PREFIX}\w+", query)}


def test_the_grafana_dashboard_queries_only_metrics_faceauth_exports():
    dashboard = json.loads(GRAFANA.read_text())
    queried = queried_metrics(dashboard)
    assert queried <= prometheus_names(), f"not exported by faceauth: {sorted(queried - prometheus_names())}"
    for name in ("objective", "epoch", "running"):  # the objective per trial, its epochs, trials running
        assert f"ray_faceauth_trial_{name}" in queried
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard["panels"])


def faceauth_samples(metrics_url: str) -> dict[tuple[str, tuple], float]:
    """(metric name, (search, task, trial)) -> value, for every faceauth series the endpoint shows now."""
    found = {}
    for family in text_string_to_metric_families(requests.get(metrics_url, timeout=5).text):
        for sample in family.samples:
            if sample.name.startswith(f"{PROMETHEUS_PREFIX}faceauth_"):
                found[(sample.name, tuple(sample.labels.get(k) for k in TAG_KEYS))] = sample.value
    return found


def test_ports_for_a_cluster_are_refused_before_ray_starts(tune, capsys):
    assert tune.run("ports", "--address", "auto", "--metrics-export-port", "9100") == 2
    assert "ray start --head --metrics-export-port PORT" in capsys.readouterr().err
    assert tune.run("ports", "--dashboard-port", "70000") == 2
    assert "--dashboard-port must be a port number" in capsys.readouterr().err


class Watcher(threading.Thread):
    """Polls the node's metrics endpoint and the Jobs API while the search runs in the test's thread."""

    def __init__(self, metrics_port: int, dashboard_port: int):
        super().__init__(daemon=True)
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        self.samples: dict[tuple[str, tuple], list[float]] = defaultdict(list)  # (name, tags) -> values seen
        self.jobs: list = []
        self.done = threading.Event()

    def run(self) -> None:
        from ray.job_submission import JobSubmissionClient

        while not self.done.wait(0.5):
            try:
                for key, value in faceauth_samples(self.metrics_url).items():
                    self.samples[key].append(value)
                if not self.jobs:
                    self.jobs = JobSubmissionClient(self.dashboard_url).list_jobs()
            except Exception:  # Ray not up yet, or already shut down
                continue


@pytest.mark.slow
def test_a_search_is_a_named_job_and_exports_every_trials_metrics(tmp_path, mlp_only_space, free_port, monkeypatch):
    # Ray exports custom metrics every metrics_report_interval_ms (10 s by default): 1 s here.
    monkeypatch.setenv("RAY_metrics_report_interval_ms", "1000")
    metrics_port, dashboard_port = free_port(), free_port()
    watcher = Watcher(metrics_port, dashboard_port)
    watcher.start()
    started = time.perf_counter()
    try:
        code = tune_cli.main(["fusion", "--smoke-test", "--num-cpus", "2", "--name", "live", "--search-space",
                              mlp_only_space(), "--storage", str(tmp_path / "runs"), "--log-dir", str(tmp_path / "logs"),
                              "--metrics-export-port", str(metrics_port), "--dashboard-port", str(dashboard_port)])
    finally:
        watcher.done.set()
        watcher.join()
    print(f"search with dashboard and metrics: {time.perf_counter() - started:.1f}s")
    assert code == 0

    names = [job.metadata.get("job_name") for job in watcher.jobs if job.type == "DRIVER"]
    assert "faceauth tune fusion live" in names, f"jobs seen: {watcher.jobs}"

    run = tmp_path / "runs" / "live"
    rows = trials(run)
    assert len(rows) == 2
    for row in rows:
        tags = ("live", "fusion", row["trial_name"])
        reports = results_of(run / row["trial_name"])
        assert reports, row
        seen = {name: values for (name, sample_tags), values in watcher.samples.items() if sample_tags == tags}
        # Every value the endpoint showed is one the trial reported: the live view is the search's own.
        epochs = {r["epoch"] for r in reports}
        assert set(seen.get("ray_faceauth_trial_epoch", [])) <= epochs and seen.get("ray_faceauth_trial_epoch"), seen
        objectives = [r["tar_at_far_1e-3"] for r in reports]
        for value in seen.get("ray_faceauth_trial_objective", []):
            assert any(math.isclose(value, o, rel_tol=1e-6, abs_tol=1e-9) for o in objectives), (value, objectives)
        assert seen.get("ray_faceauth_trial_objective"), seen
        latencies = {r["onnx_latency_ms"] for r in reports if "onnx_latency_ms" in r}  # the model's cost, measured once
        assert seen.get("ray_faceauth_trial_onnx_latency_ms") and set(seen["ray_faceauth_trial_onnx_latency_ms"]) <= latencies, seen
        assert 1.0 in seen.get("ray_faceauth_trial_running", []), seen
        assert 0 < max(seen.get("ray_faceauth_trial_epochs_total", [0])) <= len(reports), seen
    exported = {name for name, _ in watcher.samples}
    assert exported <= prometheus_names(), exported


@pytest.mark.slow
def test_a_trial_between_reports_stays_on_the_endpoint(free_port, monkeypatch):
    """Ray's agent drops a gauge two report intervals after it was last set; a trial whose epochs take
    longer must not vanish from the panels between its reports."""
    import ray

    monkeypatch.setenv("RAY_metrics_report_interval_ms", "1000")
    port = free_port()
    ray.init(address="local", num_cpus=1, include_dashboard=False, _metrics_export_port=port)
    try:
        @ray.remote
        def slow_epoch(seconds: float) -> None:
            with TrialMetrics("s", "fusion", "fusion_0000", "eer") as live:
                live.record({"epoch": 1, "eer": 0.25, "best_eer": 0.25})
                time.sleep(seconds)  # an epoch 5 report intervals long

        done = slow_epoch.remote(6.0)
        url, key = f"http://127.0.0.1:{port}/metrics", ("ray_faceauth_trial_objective", ("s", "fusion", "fusion_0000"))
        seen = []
        while not ray.wait([done], timeout=0.5)[0]:
            seen.append(faceauth_samples(url).get(key))
        ray.get(done)
        first = next(i for i, value in enumerate(seen) if value is not None)
        assert seen[first:] == [0.25] * (len(seen) - first) and len(seen) - first >= 6, seen
    finally:
        ray.shutdown()
