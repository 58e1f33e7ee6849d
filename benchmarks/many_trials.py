"""How the search's driver scales with the number of trials: searches of 50, 200 and 1,000 cheap trials
of a toy task defined here (a 2-D two-blob classifier: each trial trains in milliseconds, so what is
measured is the driver, not training).

    python benchmarks/many_trials.py [--sizes 50 200 1000] [--output benchmarks/results/many_trials.json]

Per size it prints the driver's wall time per trial (Tuner.fit's wall / trials), its peak memory
(the driver process's maximum RSS), and the time the search's finish takes to write trials.parquet,
to read the Optuna study (the journal file) and to write the report (plots included). The ratios
are each size's time per trial over the smallest size's, in the same script run. Target: from 50 to
1,000 trials, time per trial grows at most 1.5x.

Each size runs in a fresh process (its own local Ray) so that peak memory is that size's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def toy_task():
    """A task class defined here, registered by value so the trials' processes can unpickle it."""
    from dataclasses import dataclass

    import numpy as np
    import torch
    import torch.nn.functional as F

    from faceauth.training.config import TrainConfig
    from faceauth.training.fit import Objective, make_optimizer, optimizer_step
    from faceauth.evaluation.metrics import PAD_KEYS, pad_metrics
    from faceauth.tasks import Evaluation, OnnxSpec, Task, TrainingRun

    @dataclass(frozen=True)
    class BlobsConfig(TrainConfig):
        samples: int = 64
        hidden: int = 4
        output: str = "blobs.pth"

    def split(config, index: int):
        rng = np.random.default_rng(index)
        attack = rng.random(config.samples) < 0.5
        x = rng.normal(size=(config.samples, 2)) + np.where(attack[:, None], 1.0, -1.0)
        return torch.from_numpy(x.astype(np.float32)), attack

    class BlobsTask(Task):
        name = "blobs"
        description = "two blobs, for the driver benchmark"
        config_cls = BlobsConfig
        objective = Objective("eer", "min")
        metric_names = PAD_KEYS
        kind = "pad"

        def prepare(self, config, session):
            x, attack = split(config, 0)
            x_val, attack_val = split(config, 1)
            model = torch.nn.Sequential(torch.nn.Linear(2, config.hidden), torch.nn.Tanh(), torch.nn.Linear(config.hidden, 1))
            optimizer = make_optimizer(model.parameters(), config)
            target = torch.from_numpy(attack.astype(np.float32))

            def train_epoch(epoch: int) -> float:
                return float(optimizer_step(optimizer, F.binary_cross_entropy_with_logits(model(x)[:, 0], target)))

            def validate() -> dict:
                scores = torch.sigmoid(model(x_val)[:, 0]).double().detach().numpy()
                return pad_metrics(scores[attack_val], scores[~attack_val])

            return TrainingRun(model=model, model_args={"hidden": config.hidden}, validate=validate,
                               train_epoch=train_epoch, optimizer=optimizer)

        def build_model(self, model_args):
            return torch.nn.Sequential(torch.nn.Linear(2, model_args["hidden"]), torch.nn.Tanh(),
                                       torch.nn.Linear(model_args["hidden"], 1))

        def evaluate(self, checkpoint, test_data=None, split_name="test"):
            x, attack = split(self.config(checkpoint["config"]), 2)
            with torch.no_grad():
                scores = torch.sigmoid(self.load_model(checkpoint)(x)[:, 0]).double().numpy()
            metrics = pad_metrics(scores[attack], scores[~attack], checkpoint["metrics"]["threshold"])
            return Evaluation({"blobs": metrics}, {"blobs": (scores[attack], scores[~attack])}, {"data": "blobs"})

        def onnx_spec(self, model_args):
            return OnnxSpec(("x",), ("logit",), {"x": {0: "batch"}}, lambda batch, check: (torch.randn(batch, 2),))

        def check_data(self, config):
            return f"{config.samples} points per split"

    return BlobsTask


def one_size(trials: int) -> dict:
    """In this process: a search of `trials` blobs trials, its finish timed piece by piece."""
    import functools
    import resource
    import time

    import ray.cloudpickle
    import yaml

    from faceauth import tune as tune_command
    from faceauth.tasks import register
    from faceauth.tuning import search as tune_module

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    register(toy_task())
    timings: dict[str, float] = {}

    def timed(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
        return wrapper

    tune_module.write_trials_table = timed("trials_parquet_s", tune_module.write_trials_table)
    tune_module.read_study_record = timed("study_read_s", tune_module.read_study_record)
    tune_module.write_report = timed("report_s", tune_module.write_report)
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "blobs.yaml"
        space.write_text(yaml.safe_dump({
            "metric": "eer", "mode": "min", "fixed": {"epochs": 2, "patience": 0},
            "parameters": {"lr": {"type": "log_float", "low": 1e-3, "high": 1e-1},
                           "hidden": {"type": "int", "low": 2, "high": 64}}}))
        started = time.perf_counter()
        result = tune_module.run_search(*tune_command.parse_args([
            "blobs", "--trials", str(trials), "--name", "many", "--storage", str(Path(tmp) / "runs"),
            "--search-space", str(space), "--no-dashboard", "--scheduler", "none", "--log-dir", str(Path(tmp) / "logs")]))
        command_s = time.perf_counter() - started
        metrics = json.loads((result.run_dir / "best" / "metrics.json").read_text())
        fit_s = metrics["search"]["wall_time_s"]
    return {"trials": trials, "trained": metrics["search"]["trials"], "fit_wall_s": fit_s, "command_wall_s": command_s,
            "driver_s_per_trial": fit_s / trials, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **timings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one)))
        return 0
    rows = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size)], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]["driver_s_per_trial"]
    print(f"{'trials':>7} {'trained':>8} {'fit s':>8} {'s/trial':>8} {'ratio':>6} {'peak MiB':>9} "
          f"{'parquet s':>10} {'study s':>8} {'report s':>9}")
    for row in rows:
        row["ratio_to_smallest"] = row["driver_s_per_trial"] / base
        print(f"{row['trials']:>7} {row['trained']:>8} {row['fit_wall_s']:>8.1f} {row['driver_s_per_trial']:>8.3f} "
              f"{row['ratio_to_smallest']:>6.2f} {row['peak_rss_mib']:>9.0f} {row['trials_parquet_s']:>10.3f} "
              f"{row['study_read_s']:>8.3f} {row['report_s']:>9.2f}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
