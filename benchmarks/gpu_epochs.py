"""Epoch time of the fusion and liveness trainers against a bare torch loop on the same device, under
each speed setting (`amp`, the liveness CNN's `channels_last`, its `loader_workers`); ready for a GPU
node, runnable on CPU.

    python benchmarks/gpu_epochs.py                        # cuda if torch has it, else cpu
    python benchmarks/gpu_epochs.py --device cpu --epochs 3 --amp off bf16
    python benchmarks/gpu_epochs.py --search-trials 8      # also: trials at once per GPU in a search

- faceauth: `train_once` of the default synthetic config (patience 0), the median of its warm epochs'
  `epoch_time_s` (the epoch's validation included, as a trial pays it);
- bare: the same model, loss and fused AdamW in a plain loop over random batches already on the device,
  no validation: the floor a trainer can reach. Ratio = faceauth / bare (1.0: no overhead).
- On CUDA, GPU utilisation (nvidia-smi, sampled every 0.2 s while each run trains) and, with
  --search-trials, a fusion search at --gpus-per-worker 0.25: the most trials that ran at once on one GPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled in a thread while the block runs (None without nvidia-smi)."""

    def __enter__(self):
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True) if shutil.which("nvidia-smi") else None
        if self.thread:
            self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.2):
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True).stdout.split()
            if out:
                self.samples.append(float(out[0]))

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread:
            self.thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def faceauth_epoch(task_name: str, values: dict, epochs: int) -> tuple[float, float | None]:
    from faceauth.workflows.config import resolve_config
    from faceauth.tasks import get_task
    from faceauth.workflows.train import train_once

    import dataclasses

    task = get_task(task_name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"output": f"{tmp}/model.pth", "output_dir": tmp, "cache_dir": tmp}
        fields = {f.name for f in dataclasses.fields(task.config_cls)}
        config = resolve_config(task, None, {"synthetic": True, "epochs": epochs, "patience": 0, "log_dir": tmp,
                                             **{k: v for k, v in paths.items() if k in fields}, **values})
        with Utilisation() as gpu:
            history = train_once(task, config, verbose=False)["history"]
    times = [h["epoch_time_s"] for h in history if "train_loss" in h][1:] or [history[-1]["epoch_time_s"]]
    return statistics.median(times), gpu.mean


def bare_fusion_epoch(device: str, epochs: int, amp: str) -> float:
    from faceauth.workflows.config import resolve_config
    from faceauth.training.fit import Precision
    from faceauth.training.losses import ContrastiveLoss
    from faceauth.tasks import get_task
    from faceauth.tasks.fusion.data import load_splits
    from faceauth.tasks.fusion.model import FusionModel

    config = resolve_config(get_task("fusion"), None, {"synthetic": True})
    train = load_splits(config)["train"]
    x, y = torch.from_numpy(train.embeddings).to(device), torch.from_numpy(train.labels).to(device)
    model = FusionModel(train.model_dims, x.shape[1], config.hidden_sizes, config.dropout).to(device)
    model.set_linear(torch.zeros(x.shape[1]).numpy(), torch.eye(x.shape[1]).numpy())
    loss_fn = ContrastiveLoss(config.margin)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, fused=True)
    precision = Precision(amp, torch.device(device))
    return _timed_epochs(epochs, device, lambda: [
        precision.step(optimizer, loss_fn(_forward(model, x[i], precision).float(), y[i]))
        for i in torch.randperm(len(x), device=device).split(config.batch_size)])


def bare_liveness_epoch(device: str, epochs: int, amp: str, channels_last: bool) -> float:
    import torch.nn.functional as F

    from faceauth.workflows.config import resolve_config
    from faceauth.training.fit import Precision
    from faceauth.tasks import get_task
    from faceauth.tasks.liveness.model import build_model, memory_format
    from faceauth.tasks.liveness.training import model_args

    config = resolve_config(get_task("liveness"), None, {"synthetic": True})
    n = 400  # the default synthetic train split
    images = torch.rand(n, 3, config.image_size, config.image_size, device=device)
    images = images.contiguous(memory_format=memory_format(torch.device(device), channels_last))
    labels = (torch.arange(n, device=device) % 2).float()
    model = build_model(model_args(config)).to(device).to(memory_format=memory_format(torch.device(device), channels_last))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, fused=True)
    precision = Precision(amp, torch.device(device))
    return _timed_epochs(epochs, device, lambda: [
        precision.step(optimizer, F.binary_cross_entropy_with_logits(_forward(model, images[i], precision).float(), labels[i]))
        for i in torch.randperm(n, device=device).split(config.batch_size) if len(i) > 1])


def _forward(model, x, precision):
    with precision.autocast():
        return model(x)


def _timed_epochs(epochs: int, device: str, epoch) -> float:
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        epoch()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:] or times)


def search_packing(trials: int, tmp: Path) -> dict:
    """A fusion search of `trials` at a quarter GPU each: the most trials at once on one GPU."""
    import pyarrow.parquet as pq

    subprocess.run([sys.executable, "-m", "faceauth.tune", "fusion", "--synthetic", "--trials", str(trials),
                    "--gpus-per-worker", "0.25", "--cpus-per-worker", "1", "--no-dashboard", "--name", "packed",
                    "--storage", str(tmp / "runs"), "--log-dir", str(tmp / "logs")], cwd=ROOT, check=True)
    rows = pq.read_table(tmp / "runs" / "packed" / "trials.parquet").to_pylist()
    most = 0
    for gpu in {r["last_gpu_id"] for r in rows}:
        spans = [((r["ended_at"].timestamp() - r["wall_time_s"]), r["ended_at"].timestamp()) for r in rows
                 if r["last_gpu_id"] == gpu]
        most = max(most, max(sum(s <= t < e for s, e in spans) for t, _ in spans))
    return {"trials": len(rows), "most_at_once_on_one_gpu": most, "gpus_used": len({r["last_gpu_id"] for r in rows})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--amp", nargs="+", default=None, help="precisions to time (default: off bf16 fp16 on "
                        "cuda, off bf16 on cpu)")
    parser.add_argument("--loader-workers", type=int, default=2)
    parser.add_argument("--search-trials", type=int, default=0)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "gpu_epochs.json"))
    args = parser.parse_args()
    precisions = args.amp or (["off", "bf16", "fp16"] if args.device == "cuda" else ["off", "bf16"])
    rows = []
    for amp in precisions:
        epoch, gpu = faceauth_epoch("fusion", {"device": args.device, "amp": amp, "fusion_kind": "mlp"}, args.epochs)
        rows.append({"task": "fusion", "amp": amp, "setting": "-", "faceauth_epoch_s": epoch, "gpu_util": gpu,
                     "bare_epoch_s": bare_fusion_epoch(args.device, args.epochs, amp)})
        for channels_last, workers in ((True, 0), (False, 0), (True, args.loader_workers)):
            values = {"device": args.device, "amp": amp, "channels_last": channels_last, "loader_workers": workers}
            epoch, gpu = faceauth_epoch("liveness", values, args.epochs)
            rows.append({"task": "liveness", "amp": amp, "setting": f"channels_last={channels_last} loader_workers={workers}",
                         "faceauth_epoch_s": epoch, "gpu_util": gpu,
                         "bare_epoch_s": bare_liveness_epoch(args.device, args.epochs, amp, channels_last)})
        for row in rows[-4:]:
            row["ratio"] = row["faceauth_epoch_s"] / row["bare_epoch_s"]
            print(json.dumps(row), flush=True)
    figures = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "torch": torch.__version__,
               "epochs": args.epochs, "rows": rows}
    if args.search_trials:
        with tempfile.TemporaryDirectory() as tmp:
            figures["search"] = search_packing(args.search_trials, Path(tmp))
    print(f"\n{figures['device']}, torch {torch.__version__}: median warm epoch (s), faceauth against a bare loop")
    print("| task | amp | setting | faceauth | bare | ratio | GPU util % |\n|---|---|---|---|---|---|---|")
    for r in rows:
        util = f"{r['gpu_util']:.0f}" if r["gpu_util"] is not None else "-"
        print(f"| {r['task']} | {r['amp']} | {r['setting']} | {r['faceauth_epoch_s']:.3f} | {r['bare_epoch_s']:.3f} | "
              f"{r['ratio']:.2f} | {util} |")
    if "search" in figures:
        print(f"search: {json.dumps(figures['search'])}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(figures, indent=2))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
