"""Training, searching and evaluating a PAD task on a protocol's folds (faceauth.tasks.protocols).

    python -m faceauth.train liveness --synthetic --protocol leave-one-attack-out
    python -m faceauth.tune liveness --synthetic --protocol leave-one-attack-out --protocol-objective worst
    python -m faceauth.evaluate --model-path M --protocol leave-one-attack-out

One search trial trains every fold with the same hyperparameters. The folds run one after another,
an epoch at a time (fold 1 epoch 1, fold 2 epoch 1, ..., fold 1 epoch 2, ...), each in a thread of
its own that waits for its turn: never two at once, so a trial needs no more CPUs than one fold. After
each round the trial reports every fold's validation metrics (`fold_<name>_<metric>`) and their
aggregate under the plain metric names (`--protocol-objective`: the worst fold, the mean, or the mean
penalised by one standard deviation), which is what TPE and ASHA see: early stopping acts on the
aggregate. Each fold keeps its own best epoch and its threshold from its own val side; the test sides
are read only after the search, for the report.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceauth.training.checkpoint import FORMAT
from faceauth.training.config import build_config, to_dict
from faceauth.io.errors import FaceauthError
from faceauth.tasks.pad_datasets import protocol_names
from faceauth.tasks.protocols import (FoldData, known_protocols, aggregate, aggregate_metrics, describe, load_protocol_file, materialise,
                                resolve_protocol, scan_items, source_of, uses_folds)
from faceauth.training.session import Session, use_session
from faceauth.evaluation.result import Evaluation
from faceauth.io.log import logger
from faceauth.tasks import Task
from faceauth.tasks.pad import PresentationAttackTask

# Keys of a fold's report that are bookkeeping, not metrics.
_NOT_METRICS = ("epoch", "epoch_time_s", "workers", "completed", "early_stopped", "threshold", "train_loss", "loop_time_s")
# Per-fold test metrics the report quotes with bootstrap intervals.
INTERVAL_METRICS = ("hter", "acer", "bpcer", "eer", "bpcer_at_apcer_5pct", "bpcer_at_apcer_1pct", "apcer_worst", "acer_worst")
# The fold table's columns; a public dataset's shipped protocol is reported in the field's terms for it.
TABLE_KEYS = ("hter", "eer", "bpcer_at_apcer_5pct", "apcer_worst")
SHIPPED_TABLE_KEYS = ("apcer_worst", "bpcer", "acer_worst", "eer")


def check_protocol_config(task: Task, config) -> None:
    if not isinstance(task, PresentationAttackTask):
        return  # only the PAD tasks' configs have a protocol
    if config.protocol not in known_protocols():
        load_protocol_file(config.protocol)  # its keys and types, before any data is read
    if config.test_data_root is not None and config.protocol != "cross-dataset":
        raise FaceauthError("--test-data-root is for --protocol cross-dataset; without it, pass --test-data")
    if uses_folds(config) and getattr(config, "test_data", None):
        raise FaceauthError("--test-data with a protocol: a protocol decides each fold's test side; for a second dataset "
                            "use --protocol cross-dataset --test-data-root DIR")


def prepare_folds(task: Task, config) -> tuple[Any, list[FoldData]]:
    """The protocol and its folds laid out as data roots (checked: raises FaceauthError naming the problem)."""
    check_protocol_config(task, config)
    root = task.protocol_data(config)
    items = scan_items(root, dataset=config.dataset)
    protocol = resolve_protocol(config, items, Path(root))
    test_items = scan_items(protocol.test_root, "--test-data-root") if protocol.test_root is not None else []
    return protocol, materialise(protocol, items, config.cache_dir, test_items, Path(root).resolve())


def fold_values(values: dict[str, Any], fold: FoldData) -> dict[str, Any]:
    """A fold's config: the run's, reading the fold's data root, writing below the run's output folder."""
    output = Path(values.get("output_dir", "checkpoints")) / "folds" / fold.name
    return {**values, "synthetic": False, "data_root": str(fold.root), "protocol": "standard", "test_data_root": None,
            "synthetic_domains": 0, "synthetic_attack_types": 0, "output_dir": str(output)}


def check_protocol_data(task: Task, config) -> str:
    """Before Ray starts: every fold's data loads and passes the task's own checks."""
    protocol, folds = prepare_folds(task, config)
    values = to_dict(config)
    for fold in folds:
        try:
            task.check_data(build_config(task.config_cls, fold_values(values, fold)))
        except FaceauthError as err:
            raise FaceauthError(f"protocol {protocol.name}, fold '{fold.name}': {err}") from None
    return f"protocol {protocol.name} ({len(folds)} folds: {describe(folds)})"


# ---------------------------------------------------------------------------------------- one trial

class _Cancelled(Exception):
    """Raised inside a fold's thread when the trial ends before the fold does (ASHA, an error)."""


class _FoldSession(Session):
    """A fold's session: each report is handed to the coordinator, then the fold waits for its turn."""

    def __init__(self, index: int, runner: "_Rounds", restored: dict[str, Any] | None):
        self.index, self.runner, self.restored = index, runner, restored

    def report(self, metrics: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> None:
        self.runner.outbox[self.index].put(("report", metrics, checkpoint))
        self.runner.wait_turn(self.index)

    def restore(self) -> dict[str, Any] | None:
        return self.restored


class _Rounds:
    def __init__(self, count: int):
        self.turn = [threading.Event() for _ in range(count)]
        self.outbox: list[queue.Queue] = [queue.Queue() for _ in range(count)]
        self.cancelled = False

    def wait_turn(self, index: int) -> None:
        self.turn[index].wait()
        self.turn[index].clear()
        if self.cancelled:
            raise _Cancelled()

    def step(self, index: int) -> tuple:
        self.turn[index].set()
        return self.outbox[index].get()


def run_folds(task: Task, config, values: dict[str, Any], outer: Session) -> None:
    """Train every fold with one config, reporting the folds' metrics and their aggregate each round.
    `config`: the trial's, built once from `values` (which the combined checkpoint records as given);
    each fold's config is built once from them."""
    protocol, folds = prepare_folds(task, config)
    fold_configs = [task.config(fold_values(values, fold)) for fold in folds]
    objective_metric = task.objective.metric
    restored = outer.restore()
    fold_checkpoints: dict[str, dict[str, Any]] = dict((restored or {}).get("protocol_folds", {}))
    rounds = _Rounds(len(folds))

    def work(index: int, fold: FoldData) -> None:
        try:
            rounds.wait_turn(index)
            with use_session(_FoldSession(index, rounds, fold_checkpoints.get(fold.name))):
                task.train_loop(fold_configs[index])
            rounds.outbox[index].put(("done", None, None))
        except _Cancelled:
            pass
        except BaseException as err:  # handed to the trial's thread, which raises it
            rounds.outbox[index].put(("error", err, None))

    threads = [threading.Thread(target=work, args=(i, f), daemon=True, name=f"fold-{f.name}") for i, f in enumerate(folds)]
    for thread in threads:
        thread.start()
    last: dict[str, dict[str, Any]] = {}
    running = set(range(len(folds)))
    try:
        while running:
            improved, epochs, started = False, [], time.perf_counter()
            for index in sorted(running):
                kind, payload, checkpoint = rounds.step(index)
                name = folds[index].name
                if kind == "error":
                    raise payload
                if kind == "done":
                    running.discard(index)
                    continue
                last[name] = payload
                epochs.append(int(payload.get("epoch", 0)))
                if checkpoint is not None:
                    fold_checkpoints[name] = checkpoint
                    improved = True
                if payload.get("completed") or payload.get("early_stopped"):
                    running.discard(index)
                    kind, payload, _ = rounds.step(index)  # let it return from train_loop
                    if kind == "error":
                        raise payload
            if not epochs:
                break
            report = _round_report(last, config.protocol_objective, objective_metric, len(folds))
            report["epoch"] = max(epochs)
            report["epoch_time_s"] = time.perf_counter() - started
            if not running:
                report["completed" if any(m.get("completed") for m in last.values()) else "early_stopped"] = True
            combined = None
            if improved and len(fold_checkpoints) == len(folds):
                combined = combine_checkpoints(task, values, protocol.name, folds, fold_checkpoints, report)
            outer.report(report, combined)
    finally:
        rounds.cancelled = True
        for event in rounds.turn:
            event.set()


def _round_report(last: dict[str, dict[str, Any]], objective: str, metric: str, folds: int) -> dict[str, Any]:
    metrics = {name: {k: v for k, v in m.items() if k not in _NOT_METRICS and not k.startswith("best_")}
               for name, m in last.items()}
    report: dict[str, Any] = aggregate_metrics(metrics, objective)
    bests = [m.get(f"best_{metric}") for m in last.values()]
    report[f"best_{metric}"] = aggregate([b for b in bests if b is not None], metric, objective)
    for name, values in metrics.items():
        report.update({f"fold_{name}_{k}": v for k, v in values.items() if isinstance(v, (int, float))})
    report.update({"protocol_folds": folds, "protocol_objective": objective, "workers": 1})
    return report


def combine_checkpoints(task: Task, values: dict[str, Any], protocol: str, folds: list[FoldData],
                        checkpoints: dict[str, dict[str, Any]], report: dict[str, Any]) -> dict[str, Any]:
    """One checkpoint for the trial: the first fold's model at the top (so it loads and exports as any
    checkpoint does) and every fold's under `protocol_folds`."""
    first = checkpoints[folds[0].name]
    return {"format": FORMAT, "task": task.name, "model_args": first["model_args"], "state_dict": first["state_dict"],
            "config": first["config"], "epoch": report["epoch"], "best": report.get(f"best_{task.objective.metric}"),
            "metrics": first["metrics"], "protocol": protocol, "protocol_config": values,
            "protocol_folds": {f.name: checkpoints[f.name] for f in folds}}


def on_protocol(task: Task, config) -> bool:
    """Whether a run of this config goes through a protocol's folds (else: the task's own split)."""
    return isinstance(task, PresentationAttackTask) and uses_folds(config)


def trial_loop(task: Task, values: dict[str, Any], session: Session) -> None:
    """What a search trial runs: the task's train_loop, or every fold of the protocol; the trial's
    config is built here, once."""
    config = task.config(values)
    if on_protocol(task, config):
        run_folds(task, config, values, session)
    else:
        with use_session(session):
            task.train_loop(config)


# ------------------------------------------------------------------------------------- after training

def _clean(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in checkpoint.items() if k not in ("optimizer", "extra")}


def fold_results(task: Task, checkpoints: dict[str, dict[str, Any]], objective: str) -> dict[str, Any]:
    """Each fold's model evaluated on its own test side beside the baselines, with the verdict and 95%
    bootstrap intervals; and the aggregate over folds. {"folds": {...}, "aggregate": {...}, "evaluations"}."""
    from faceauth.evaluation.verdict import metric_intervals

    folds, evaluations = {}, {}
    for name, checkpoint in checkpoints.items():
        checkpoint, evaluation, verdict = task.finalize(_clean(checkpoint))
        checkpoints[name] = checkpoint
        systems = list(evaluation.metrics)
        wanted = [m for m in INTERVAL_METRICS if m in evaluation.model_metrics]
        wanted += [k for k in evaluation.model_metrics if k.startswith("apcer_") and k not in wanted]
        intervals = (metric_intervals(evaluation, wanted) if evaluation.groups is not None else {})
        intervals = {("model" if s == systems[0] else s): v for s, v in intervals.items()}
        folds[name] = {"val": checkpoint["metrics"], "test": evaluation.metrics[systems[0]],
                       "test_baselines": {s: evaluation.metrics[s] for s in systems[1:]},
                       "ci95": intervals, "verdict": verdict, "best_epoch": checkpoint["epoch"],
                       "test_data": evaluation.details}
        evaluations[name] = evaluation
    systems = list(next(iter(evaluations.values())).metrics)
    aggregate_test = {s: aggregate_metrics({n: e.metrics[s] for n, e in evaluations.items()}, objective) for s in systems}
    spread = {("model" if s == systems[0] else s): mean_std({n: e.metrics[s] for n, e in evaluations.items()}) for s in systems}
    return {"folds": folds, "aggregate": {"objective": objective, "test": aggregate_test[systems[0]],
                                          "test_baselines": {s: aggregate_test[s] for s in systems[1:]},
                                          "mean_std": spread},
            "evaluations": evaluations, "checkpoints": checkpoints}


def mean_std(per_fold: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    """[mean, std] over the folds of every metric they share (std over the folds, ddof 0): how the
    field reports a protocol with sub-protocols (OULU-NPU 3 and 4: ACER mean and std over six phones)."""
    return {k: [aggregate(values, k, "mean"), float(np.std(values))]
            for k, values in ((k, [m[k] for m in per_fold.values()]) for k in aggregate_metrics(per_fold, "mean"))}


def table_keys(protocol: str) -> tuple[str, ...]:
    return SHIPPED_TABLE_KEYS if protocol in protocol_names() else TABLE_KEYS


def fold_table(results: dict[str, Any], keys: tuple[str, ...] | None = None) -> str:
    """Markdown: one row per fold and system, then the aggregate, and with several folds their mean and
    std, with 95% intervals where known. Keys: the protocol's (table_keys)."""
    keys = keys or table_keys(results.get("protocol", ""))
    lines = ["| fold | system | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for name, fold in results["folds"].items():
        systems = {"model": fold["test"], **fold["test_baselines"]}
        for system, metrics in systems.items():
            ci = fold["ci95"].get(system, {})
            cells = []
            for key in keys:
                value = metrics.get(key)
                cell = "n/a" if value is None else f"{value:.3f}"
                if key in ci and np.isfinite(ci[key][0]):
                    cell += f" [{ci[key][0]:.3f}, {ci[key][1]:.3f}]"
                cells.append(cell)
            lines.append(f"| {name} | {system} | " + " | ".join(cells) + " |")
    aggregate_row = results["aggregate"]
    for system, metrics in {"model": aggregate_row["test"], **aggregate_row["test_baselines"]}.items():
        lines.append(f"| **{aggregate_row['objective']}** | {system} | "
                     + " | ".join("n/a" if metrics.get(k) is None else f"{metrics[k]:.3f}" for k in keys) + " |")
    if len(results["folds"]) > 1:
        for system, spread in aggregate_row.get("mean_std", {}).items():
            lines.append(f"| **mean ± std** | {system} | "
                         + " | ".join(f"{spread[k][0]:.3f} ± {spread[k][1]:.3f}" if k in spread else "n/a" for k in keys) + " |")
    return "\n".join(lines)


def fold_plot_metric(protocol: str) -> str:
    """What the per-fold plot shows: a shipped protocol's ACER (worst attack type), else HTER."""
    return "acer_worst" if protocol in protocol_names() else "hter"


def plot_folds(results: dict[str, Any], path: Path, metric: str | None = None) -> Path:
    """Per fold, the model's and each baseline's test `metric` with its 95% interval (bars)."""
    metric = metric or fold_plot_metric(results.get("protocol", ""))
    from faceauth.tuning.report import _pyplot, save_figure

    plt = _pyplot()
    names = list(results["folds"])
    first = results["folds"][names[0]]
    systems = ["model", *first["test_baselines"]]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names) + 2), 4))
    width = 0.8 / len(systems)
    for s_index, system in enumerate(systems):
        values, low, high = [], [], []
        for name in names:
            fold = results["folds"][name]
            metrics = fold["test"] if system == "model" else fold["test_baselines"][system]
            value = metrics.get(metric, np.nan)
            interval = fold["ci95"].get(system, {}).get(metric, [value, value])
            values.append(value)
            low.append(max(0.0, value - interval[0]))
            high.append(max(0.0, interval[1] - value))
        xs = np.arange(len(names)) + (s_index - (len(systems) - 1) / 2) * width
        ax.bar(xs, values, width, yerr=[low, high], capsize=3, label=system)
    ax.set_xticks(np.arange(len(names)), names, rotation=15)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"Per-fold test {metric} (95% bootstrap intervals)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def headline_verdict(task: Task, results: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict of the fold where the model does worst on its test side (its objective metric): a
    model earns its cost only if it beats the baselines where it is weakest too."""
    metric, mode = task.objective.metric, task.objective.mode
    folds = [(name, fold) for name, fold in results["folds"].items() if fold.get("verdict")]
    if not folds:
        return None
    pick = max if mode == "min" else min
    name, fold = pick(folds, key=lambda pair: pair[1]["test"][metric])
    verdict = dict(fold["verdict"])
    verdict["fold"] = name
    verdict["summary"] = f"Fold '{name}' (the model's worst test {metric} of {len(results['folds'])} folds): {verdict['summary']}"
    return verdict


def results_json(results: dict[str, Any]) -> dict[str, Any]:
    return {"folds": results["folds"], "aggregate": results["aggregate"]}


def report_lines(results: dict[str, Any], protocol: str, plot_name: str) -> list[str]:
    verdicts = [f"- {name}: {fold['verdict']['summary']}" for name, fold in results["folds"].items() if fold.get("verdict")]
    return [f"## Protocol `{protocol}`: test side of each fold (never seen by training or selection)", "",
            "Each fold's model and baselines were fitted on its train side, thresholded at its val side's EER, and "
            f"scored on its test side; the last rows aggregate the folds ({results['aggregate']['objective']}). "
            "Brackets: 95% bootstrap intervals over the test items (videos or subjects, not frames).", "",
            fold_table(results), "", f"![per-fold test {fold_plot_metric(protocol)}]({plot_name})", "", "Verdict per fold:", "", *verdicts, ""]


def train_protocol(task: Task, config) -> dict[str, Any]:
    """`faceauth.train` on a protocol: each fold trained in turn (as a standalone run), then scored."""
    from faceauth.workflows.train import train_once

    protocol, folds = prepare_folds(task, config)
    values = to_dict(config)
    logger.info(f"protocol {protocol.name}: {len(folds)} fold(s): {describe(folds)}")
    checkpoints, started = {}, time.perf_counter()
    for fold in folds:
        logger.info(f"\n== fold {fold.name}")
        result = train_once(task, build_config(task.config_cls, fold_values(values, fold)))
        checkpoints[fold.name] = result["checkpoint"]
    results = fold_results(task, checkpoints, config.protocol_objective)
    results["protocol"] = protocol.name
    results["wall_time_s"] = time.perf_counter() - started
    return results


def evaluate_protocol(task: Task, checkpoint: dict[str, Any], protocol_name: str, data_root: str | None,
                      objective: str = "worst") -> dict[str, Any]:
    """One model scored on each fold's test side of a protocol (at the model's own validation threshold).
    The protocol is cut from `data_root`, or the data the model was trained on."""
    values = dict(checkpoint["config"])
    values["protocol"] = protocol_name
    data_root = data_root or (source_of(values["data_root"]) if values.get("data_root") else None)
    if data_root is not None:
        values.update({"data_root": data_root, "synthetic": False})
    config = build_config(task.config_cls, values, "checkpoint config")
    _, folds = prepare_folds(task, config)
    per_fold = {}
    for fold in folds:
        evaluation = task.evaluate(checkpoint, str(fold.root / "test"))
        per_fold[fold.name] = evaluation.metrics
    systems = list(next(iter(per_fold.values())))
    return {"folds": per_fold,
            "aggregate": {s: aggregate_metrics({n: m[s] for n, m in per_fold.items()}, objective) for s in systems},
            "mean_std": {s: mean_std({n: m[s] for n, m in per_fold.items()}) for s in systems}}


def evaluation_of(results: dict[str, Any]) -> Evaluation:
    return next(iter(results["evaluations"].values()))


def write_protocol_run(task: Task, results: dict[str, Any], folder: Path, title: str, extra: dict[str, Any] | None = None,
                       extra_lines: list[str] | None = None) -> tuple[Path, Path]:
    """protocol.metrics.json and protocol.report.md (with the per-fold plot) in `folder`."""
    import json

    from faceauth.io.runlog import atomic_write_text, package_versions, to_jsonable

    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_folds(results, folder / "protocol_folds.png")
    metrics = {"task": task.name, "protocol": results["protocol"], "verdict": headline_verdict(task, results),
               **(extra or {}), **results_json(results),
               "versions": package_versions()}
    metrics_path = atomic_write_text(folder / "protocol.metrics.json", json.dumps(to_jsonable(metrics), indent=2))
    from faceauth.tuning.report import verdict_lines

    lines = [f"# {title}", "", *verdict_lines(metrics["verdict"]), "", *(extra_lines or []),
             *report_lines(results, results["protocol"], plot.name)]
    report_path = atomic_write_text(folder / "protocol.report.md", "\n".join(lines) + "\n")
    return metrics_path, report_path


def finish_protocol_search(task: Task, record, space, best_dir: Path, summary: dict[str, Any], objective: str):
    """best/ of a protocol search: every fold's model scored on its test side (folds/<fold>/model.pt),
    the first fold's model exported (model.pt, model.onnx) and metrics.json with "folds". Returns the
    search's BestResult (test: the aggregate over folds) and the fold results."""
    import json

    import yaml

    from faceauth.training.checkpoint import save_checkpoint
    from faceauth.io.runlog import atomic_write_text, package_versions, to_jsonable
    from faceauth.tuning.best import BestResult, load_trial_checkpoint

    selected = load_trial_checkpoint(record)
    if "protocol_folds" not in selected:
        raise FaceauthError("the best trial's checkpoint holds no protocol folds; was the search run with --protocol?")
    results = fold_results(task, dict(selected["protocol_folds"]), objective)
    results["protocol"] = selected["protocol"]
    best_dir.mkdir(parents=True, exist_ok=True)
    for name, checkpoint in results["checkpoints"].items():
        save_checkpoint(checkpoint, best_dir / "folds" / name / "model.pt")
    first_name = next(iter(results["checkpoints"]))
    first = results["checkpoints"][first_name]
    save_checkpoint(first, best_dir / "model.pt")
    onnx = task.export_onnx(first, best_dir / "model.onnx")
    onnx["path"] = "model.onnx"
    protocol = {
        "protocol": results["protocol"], "protocol_objective": objective,
        "selection": f"validation {space.metric} aggregated over folds ({objective})", "val_aggregate": record.best,
        **results_json(results), "exported_fold": first_name,
        "exported_note": (f"model.pt and model.onnx hold the model of fold '{first_name}'; every fold's is under folds/. "
                          "A deployable model: train once more on all data with these hyperparameters "
                          "(python -m faceauth.train --config config.yaml --protocol standard)."),
    }
    best = BestResult(
        task=task.name, kind=task.kind, verdict=headline_verdict(task, results), trial_id=record.trial_id,
        trial_name=record.name, hyperparameters=record.hyperparameters, metric=space.metric, mode=space.mode, best_epoch=first["epoch"],
        val=first["metrics"], test=results["aggregate"]["test"], test_baselines=results["aggregate"]["test_baselines"],
        test_data={"data": f"the test side of each of {len(results['folds'])} folds", "aggregate": objective},
        onnx=onnx, deployment=task.deployment_info(first), search=summary, versions=package_versions(),
        evaluation=evaluation_of(results), protocol=protocol)
    atomic_write_text(best_dir / "metrics.json", json.dumps(to_jsonable(best.metrics_json()), indent=2))
    atomic_write_text(best_dir / "config.yaml",
        f"# The best trial ({record.trial_id}) of a {task.name} search on protocol {results['protocol']}. Re-run it with:\n"
        f"#   python -m faceauth.train --config {best_dir / 'config.yaml'}\n"
        + yaml.safe_dump({"task": task.name, **to_jsonable(selected["protocol_config"])}, sort_keys=False))
    return best, results


def protocol_report_lines(best, results: dict[str, Any]) -> list[str]:
    protocol = best.protocol
    return [f"Model selection: {protocol['selection']} = {protocol['val_aggregate']:.4f}; the test sides below were never "
            f"seen by the search. {protocol['exported_note']}", "",
            *report_lines(results, protocol["protocol"], "protocol_folds.png")]
