"""Every trial's progress as Ray custom metrics, so Prometheus and Grafana (the dashboard
cluster/grafana-faceauth-search.json, Grafana's Explore) show a search live beside Ray's own metrics.

Each trial records, on every report, its objective, best objective so far, epoch, training loss,
epoch time and its model's ONNX latency as gauges tagged with the search, the task and the trial (`fusion_0007`), a gauge that is
1 while the trial runs, and a counter of the epochs it trained. Ray exports them through each node's
metrics agent on its metrics-export port (`ray start --metrics-export-port`, `faceauth tune
--metrics-export-port`), with a `ray_` prefix and counters with a `_total` suffix: `prometheus_names()`.

Ray 2.60's agent drops a gauge series about two report intervals (`metrics_report_interval_ms`,
10 s by default) after the worker last set it, and a worker sends a gauge only when it is set. A trial
whose epochs take longer would blink in and out of the panels, so while a trial runs a daemon thread
sets its last values again twice an interval. When the trial ends it sets `faceauth_trial_running`
to 0 and its gauges age out that way; the epoch counter stays. Cost: a few Cython calls a report and
a wake-up every half interval per running trial (docs/ray-notes.md).
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
from typing import Any

TAG_KEYS = ("search", "task", "trial")
PROMETHEUS_PREFIX = "ray_"

# name -> (description, the report key it shows; "{objective}" is the search space's metric)
GAUGES = {
    "faceauth_trial_objective": ("the trial's objective (the search space's metric) at its latest epoch", "{objective}"),
    "faceauth_trial_best_objective": ("the trial's best objective so far", "best_{objective}"),
    "faceauth_trial_epoch": ("the trial's latest reported epoch (0: the model before training)", "epoch"),
    "faceauth_trial_train_loss": ("the trial's training loss at its latest epoch", "train_loss"),
    "faceauth_trial_epoch_seconds": ("wall time of the trial's latest epoch (training and validation)", "epoch_time_s"),
    "faceauth_trial_onnx_latency_ms": ("median batch-1 onnxruntime latency of the trial's model, one CPU thread "
                                       "(faceauth.evaluation.cost; measured once, at its first report)", "onnx_latency_ms"),
    "faceauth_trial_running": ("1 while the trial runs", None),
}
COUNTERS = {
    "faceauth_trial_epochs": "epochs the trial reported",
}


def prometheus_names() -> set[str]:
    """The names Prometheus and Grafana see: Ray prefixes `ray_`, and a counter gets `_total`."""
    return {PROMETHEUS_PREFIX + name for name in GAUGES} | {f"{PROMETHEUS_PREFIX}{name}_total" for name in COUNTERS}


@functools.cache
def _instruments() -> tuple[dict[str, Any], dict[str, Any]]:
    """Created once a process (a reused trial actor keeps them): registering a metric is the costly part."""
    from ray.util.metrics import Counter, Gauge

    gauges = {name: Gauge(name, description, tag_keys=TAG_KEYS) for name, (description, _) in GAUGES.items()}
    counters = {name: Counter(name, description, tag_keys=TAG_KEYS) for name, description in COUNTERS.items()}
    return gauges, counters


def _refresh_interval_s() -> float:
    import ray

    # Ray floors its export interval at 1 s; its agent keeps a gauge for two intervals.
    return max(ray._config.metrics_report_interval_ms(), 1000) / 1000


class TrialMetrics:
    """One trial's metrics: `with TrialMetrics(...) as live:` around the trial, `live.record(report)`
    at each report (a session's `on_report`)."""

    def __init__(self, search: str, task: str, trial: str, objective: str):
        self.tags = {"search": search, "task": task, "trial": trial}
        self._keys = {name: key.format(objective=objective) for name, (_, key) in GAUGES.items() if key}
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, report: dict[str, Any]) -> None:
        values = {name: float(report[key]) for name, key in self._keys.items()
                  if isinstance(report.get(key), numbers.Real) and not isinstance(report[key], bool)}  # numpy scalars too
        with self._lock:
            self._values.update({k: v for k, v in values.items() if math.isfinite(v)})
        _, counters = _instruments()
        counters["faceauth_trial_epochs"].inc(1, tags=self.tags)
        self._export()

    def _export(self) -> None:
        gauges, _ = _instruments()
        with self._lock:
            values = dict(self._values)
        for name, value in values.items():
            gauges[name].set(value, tags=self.tags)

    def _keep_alive(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self._export()

    def __enter__(self) -> TrialMetrics:
        with self._lock:
            self._values["faceauth_trial_running"] = 1.0
        self._export()
        self._thread = threading.Thread(target=self._keep_alive, args=(_refresh_interval_s() / 2,),
                                        name=f"faceauth-metrics-{self.tags['trial']}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._values["faceauth_trial_running"] = 0.0
        self._export()
