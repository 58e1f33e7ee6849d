"""The default search: wall time, trial efficiency, search quality, against a default single run and
plain Optuna, plus the TorchTrainer path's per-trial overhead. One script run, figures side by side.

    python benchmarks/tune_search.py [--trials 50] [--output benchmarks/results/tune_search.json]
    python benchmarks/tune_search.py --only overhead      # just the Train-vs-Tune trial overhead

- search: `python -m faceauth.tune fusion --trials N` with defaults, as a user runs it (subprocess).
  Trial efficiency = time inside train_loop, summed over trials / (Tuner.fit wall x concurrency);
  target >= 0.8. Target wall < 10 min for 50 trials on 2 cores; best trial's test tar_at_far_1e-3
  >= the default single run's.
- single: the default `faceauth.train fusion --synthetic` run, evaluated on the same test split.
- optuna: plain Optuna TPE (same seed, space, trial budget and train_loop), trials run one after the
  other in this process, no pruning: best validation metric and wall time.
- overhead: a one-trial smoke search (5 epochs) as a Tune function trial vs under a 2-worker
  TorchTrainer: trial wall time, time inside train_loop, and what the TorchTrainer path adds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tune_command(run_dir: Path, name: str, *args: str) -> tuple[float, list[dict], dict]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "faceauth.tune", "fusion", "--name", name, "--storage", str(run_dir),
                    "--log-dir", str(run_dir / "logs"), *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    import pyarrow.parquet as pq

    rows = pq.read_table(run_dir / name / "trials.parquet").to_pylist()
    metrics = json.loads((run_dir / name / "best" / "metrics.json").read_text())
    return wall, rows, metrics


def bench_search(trials: int, run_dir: Path) -> dict:
    wall, rows, metrics = tune_command(run_dir, "bench", "--trials", str(trials))
    fit_wall = metrics["search"]["wall_time_s"]
    concurrency = 2  # 2 CPUs, one per trial (the command's default on this machine)
    inside = sum(r["loop_time_s"] for r in rows)
    return {
        "command_wall_s": wall, "tuner_fit_wall_s": fit_wall, "trials": len(rows),
        "statuses": metrics["search"]["statuses"],
        "epochs_run_total": sum(r["epochs_run"] for r in rows),
        "trial_efficiency": inside / (fit_wall * concurrency),
        "best_val_tar_at_far_1e-3": metrics["val"]["tar_at_far_1e-3"],
        "best_test_tar_at_far_1e-3": metrics["test"]["tar_at_far_1e-3"],
        "test_score_average_tar_at_far_1e-3": metrics["test_baselines"]["score_average"]["tar_at_far_1e-3"],
        "best_hyperparameters": metrics["hyperparameters"],
    }


def bench_single(tmp: Path) -> dict:
    from faceauth.workflows.config import resolve_config
    from faceauth.workflows.train import train_once
    from faceauth.tasks import get_task

    task = get_task("fusion")
    config = resolve_config(task, None, {"synthetic": True, "log_dir": str(tmp), "output": str(tmp / "single.pth")})
    result = train_once(task, config, verbose=False)
    test = task.evaluate(result["checkpoint"], None).model_metrics
    return {"wall_s": result["wall_time_s"], "val_tar_at_far_1e-3": result["checkpoint"]["metrics"]["tar_at_far_1e-3"],
            "test_tar_at_far_1e-3": test["tar_at_far_1e-3"]}


def bench_plain_optuna(trials: int, seed: int = 0) -> dict:
    import optuna

    from faceauth.workflows.config import resolve_values
    from faceauth.tuning.space import default_space_path, load_search_space
    from faceauth.training.session import LocalSession, use_session
    from faceauth.tasks import get_task

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = get_task("fusion")
    space = load_search_space(default_space_path("fusion"), task.config_cls, task.metric_names)
    with tempfile.TemporaryDirectory() as tmp:
        base = resolve_values(task, None, {"synthetic": True, "seed": seed, "log_dir": tmp}, defaults=space.fixed)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        for point in space.points_to_evaluate():  # the defaults, then the search space's also_evaluate
            study.enqueue_trial(point)
        distributions = space.optuna_distributions()
        started = time.perf_counter()
        for _ in range(trials):
            trial = study.ask(distributions)
            session = LocalSession()
            try:
                with use_session(session):
                    task.train_loop({**base, **space.decode(trial.params)})
                study.tell(trial, max(h[space.metric] for h in session.history))
            except Exception:  # a diverged trial
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        wall = time.perf_counter() - started
    return {"wall_s": wall, "trials": trials, "best_val_tar_at_far_1e-3": study.best_value,
            "best_hyperparameters": space.decode(study.best_params)}


def bench_overhead(run_dir: Path) -> dict:
    figures = {}
    for label, extra in (("tune_function_trial", ()),
                         ("torch_trainer_2_workers", ("--workers-per-trial", "2", "--cpus-per-worker", "0.5"))):
        wall, rows, _ = tune_command(run_dir, label, "--smoke-test", "--trials", "1", "--epochs", "5", *extra)
        (row,) = rows
        figures[label] = {"command_wall_s": wall, "trial_wall_s": row["wall_time_s"], "inside_train_loop_s": row["loop_time_s"],
                          "overhead_s": row["wall_time_s"] - row["loop_time_s"]}
    # Tune's trial clock starts after the function trial's actor is up, so its own overhead reads ~0;
    # the comparable figure is what the TorchTrainer path adds to one trial and to the whole command.
    figures["torch_trainer_extra_s_per_trial"] = (figures["torch_trainer_2_workers"]["trial_wall_s"]
                                                  - figures["tune_function_trial"]["trial_wall_s"])
    figures["torch_trainer_extra_command_s"] = (figures["torch_trainer_2_workers"]["command_wall_s"]
                                                - figures["tune_function_trial"]["command_wall_s"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--only", choices=("search", "single", "optuna", "overhead"))
    parser.add_argument("--output", default="benchmarks/results/tune_search.json")
    args = parser.parse_args()
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = [args.only] if args.only else ["search", "single", "optuna", "overhead"]
        for part in parts:
            print(f"running {part} ...", flush=True)
            if part == "search":
                result["search"] = bench_search(args.trials, tmp / "runs")
            elif part == "single":
                result["single_run"] = bench_single(tmp)
            elif part == "optuna":
                result["plain_optuna"] = bench_plain_optuna(args.trials)
            else:
                result["train_overhead"] = bench_overhead(tmp / "overhead")
            print(json.dumps(result, indent=2), flush=True)
    if "search" in result:
        search = result["search"]
        result["targets"] = {
            "wall_under_10_min": search["command_wall_s"] < 600,
            "trial_efficiency_at_least_0.8": search["trial_efficiency"] >= 0.8,
            **({"test_tar_at_least_single_run": search["best_test_tar_at_far_1e-3"] >= result["single_run"]["test_tar_at_far_1e-3"]}
               if "single_run" in result else {}),
        }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
