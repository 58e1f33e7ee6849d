"""The bad-input matrix: every command, every kind of input, one case per bad input or fault.

Each case runs the command's `main(argv)` in this process (what `python -m faceauth.<command>` runs)
and checks the promise docs/bad-input.md makes: exit 2 with one `error:` line naming the file, key, flag or
path, no traceback, and every file that stood before the command unchanged. A case that must not run
code also checks that its planted pickle did nothing.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from faceauth import datasets as datasets_cli
from faceauth import embed as embed_cli
from faceauth import evaluate as evaluate_cli
from faceauth import export as export_cli
from faceauth import train as train_cli
from faceauth import tune as tune_cli
from faceauth.training.checkpoint import load_checkpoint
from tests.benchmark_files import bin_pairs, write_bin, write_lfw
from tests.pad_layouts import write_casia, write_celeba_spoof, write_oulu, write_replay
from tests.unit.tasks.fusion.test_embed import build_embedders
from tests.unit.tasks.fusion.test_fusion_data import COLUMNS, write_parquet
from tests.unit.tasks.liveness.test_liveness_data import write_image, write_split

COMMANDS = {"train": train_cli, "tune": tune_cli, "evaluate": evaluate_cli, "export": export_cli,
            "embed": embed_cli, "datasets": datasets_cli}


def ids(n_ids: int = 10, per: int = 4) -> list[str]:
    return [f"id{i // per}" for i in range(n_ids * per)]


class World:
    """Good inputs (a trained fusion checkpoint, a Parquet file, a liveness folder) built once, and
    a scratch folder per case for the bad ones."""

    def __init__(self, root: Path):
        self.root = root
        self.tmp = root  # replaced per case
        self.logs = str(root / "logs")
        self.embeddings = write_parquet(root / "good.parquet", ids(30))
        self.model = root / "model.pth"
        assert train_cli.main(["fusion", "--embeddings", str(self.embeddings), "--epochs", "1", "--fusion_kind", "mlp",
                               "--output", str(self.model), "--log-dir", self.logs]) == 0
        self.live = root / "live"
        for split in ("train", "val", "test"):
            write_split(self.live / split, seed=len(split))

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    def keep(self, name: str, content: bytes = b"precious") -> str:
        """An output that exists before the command: it must be unchanged after it."""
        return self.file(name, content)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """A 1 MiB tmpfs (full when filled) and a read-only one; skipped where mounting is not allowed."""
    root = tmp_path_factory.mktemp("disks")
    full, readonly = root / "full", root / "readonly"
    full.mkdir()
    readonly.mkdir()
    mounted = []
    try:
        for point, options in ((full, "size=1m"), (readonly, "size=64k,ro")):
            result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
            if result.returncode:
                pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip()})")
            mounted.append(point)
        yield full, readonly
    finally:
        for point in mounted:
            subprocess.run(["umount", str(point)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill a small filesystem to the last byte."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 65536)
    with contextlib.suppress(OSError), open(folder / "filler2", "wb") as handle:
        while True:
            handle.write(b"\0")


@dataclass
class Case:
    command: str
    argv: Callable[[World], list[str]]
    names: tuple[str, ...]  # what the message must name
    code: int = 2
    needs_disk: bool = False
    fill_disk: bool = True  # False: the disk has room, but not enough for what the command writes
    check: Callable[[World], None] | None = None  # more to check afterwards (e.g. a planted pickle did nothing)
    kept: list[str] = field(default_factory=list)


CASES: dict[str, Case] = {}


def case(name: str, command: str, argv, *names: str, **kw) -> None:
    assert name not in CASES, name
    CASES[name] = Case(command, argv, names, **kw)


# ---- config files, for every trainer and the search -----------------------------------------------
CONFIGS = {
    "missing": (None, "nope.yaml"),
    "bad YAML": ("epochs: [1,\n", "cfg.yaml"),
    "a list, not a mapping": ("- 1\n- 2\n", "cfg.yaml"),
    "unknown key": ("epochs: 2\nepochz: 3\n", "epochz"),
    "wrong type": ("epochs: ten\n", "epochs"),
    "negative epochs": ("epochs: -1\n", "epochs"),
    "NaN learning rate": ("lr: .nan\n", "lr"),
    "zero batch size": ("batch_size: 0\n", "batch_size"),
    "binary file": (b"\xff\xfe\x00\x81garbage", "cfg.yaml"),
    "a key given twice": ("lr: 0.001\nepochs: 2\nlr: 0.5\n", "key 'lr' appears twice (lines 1 and 3)"),
    "a folder": ("<dir>", "cfg.yaml"),
}


def config_path(w: World, content) -> str:
    if content is None:
        return str(w.tmp / "nope.yaml")
    if content == "<dir>":
        (w.tmp / "cfg.yaml").mkdir()
        return str(w.tmp / "cfg.yaml")
    return w.file("cfg.yaml", content)


for _kind, (_content, _named) in CONFIGS.items():
    for _task in ("fusion", "liveness", "temporal"):
        case(f"train {_task} config: {_kind}", "train",
             lambda w, c=_content, t=_task: [t, "--config", config_path(w, c), "--log-dir", w.logs,
                                             *(["--output", w.keep("out.pth")] if t == "fusion" else
                                               ["--output_dir", str(w.tmp / "out")])], _named)
    case(f"tune fusion config: {_kind}", "tune",
         lambda w, c=_content: ["fusion", "--config", config_path(w, c), "--storage", str(w.tmp / "runs"),
                                "--log-dir", w.logs], _named)

case("train fusion config: a JSON key given twice", "train",
     lambda w: ["fusion", "--config", w.file("cfg.json", '{"lr": 0.001, "epochs": 2, "lr": 0.5}'), "--log-dir", w.logs,
                "--output", w.keep("out.pth")], "cfg.json", "key 'lr' appears twice")

# ---- search spaces --------------------------------------------------------------------------------
SPACES = {
    "missing": (None, "nope.yaml"),
    "bad YAML": ("metric: [\n", "space.yaml"),
    "not text": (b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary", "space.yaml"),
    "unknown parameter": ("metric: eer\nmode: min\nparameters:\n  lrr: {type: float, low: 0.1, high: 0.2}\n", "lrr"),
    "low above high": ("metric: eer\nmode: min\nparameters:\n  lr: {type: float, low: 0.2, high: 0.1}\n", "lr"),
    "log range touching 0": ("metric: eer\nmode: min\nparameters:\n  lr: {type: log_float, low: 0, high: 0.1}\n", "lr"),
    "empty choices": ("metric: eer\nmode: min\nparameters:\n  loss: {type: categorical, choices: []}\n", "loss"),
    "default out of range": ("metric: eer\nmode: min\nparameters:\n  lr: {type: float, low: 0.1, high: 0.2, default: 5}\n", "lr"),
    "unknown metric": ("metric: far_at_tar\nmode: max\nparameters:\n  lr: {type: float, low: 0.1, high: 0.2}\n", "far_at_tar"),
    "bad mode": ("metric: eer\nmode: maximise\nparameters:\n  lr: {type: float, low: 0.1, high: 0.2}\n", "mode"),
    "parameters a list": ("metric: eer\nmode: min\nparameters: [lr]\n", "parameters"),
    "a parameter given twice": ("metric: eer\nmode: min\nparameters:\n  lr: {type: float, low: 0.1, high: 0.2}\n"
                                "  lr: {type: float, low: 0.3, high: 0.4}\n", "key 'lr' appears twice"),
    "unknown type": ("metric: eer\nmode: min\nparameters:\n  lr: {type: uniform, low: 0.1, high: 0.2}\n", "uniform"),
    "unknown fixed key": ("metric: eer\nmode: min\nfixed: {epochz: 2}\nparameters:\n  lr: {type: float, low: 0.1, high: 0.2}\n",
                          "epochz"),
    "a value that does not build": ("metric: eer\nmode: min\nparameters:\n  dropout: {type: float, low: 0.5, high: 1.5}\n",
                                    "dropout"),
}
for _kind, (_content, _named) in SPACES.items():
    case(f"tune search space: {_kind}", "tune",
         lambda w, c=_content: ["fusion", "--search-space", str(w.tmp / "nope.yaml") if c is None else w.file("space.yaml", c),
                                "--storage", str(w.tmp / "runs"), "--log-dir", w.logs], _named)

# ---- search flags -----------------------------------------------------------------------------------
for _flag, _value in (("--trials", "0"), ("--workers-per-trial", "0"), ("--max-failures", "-1"), ("--grace-period", "0"),
                      ("--cpus-per-worker", "0"), ("--gpus-per-worker", "-1")):
    case(f"tune flag {_flag} {_value}", "tune", lambda w, f=_flag, v=_value: ["fusion", f, v, "--storage", str(w.tmp / "runs")],
         _flag)
case("tune --resume without --name", "tune", lambda w: ["fusion", "--resume", "--storage", str(w.tmp / "runs")], "--name")
case("tune --resume of a run that is not there", "tune",
     lambda w: ["fusion", "--resume", "--name", "gone", "--storage", str(w.tmp / "runs")], "no search to resume")
for _name in ("../escape", "/tmp/faceauth-absolute", "", "a/b", ".hidden"):
    case(f"tune --name with path characters: {_name!r}", "tune",
         lambda w, n=_name: ["fusion", "--name", n, "--storage", str(w.tmp / "runs")], "--name")
case("tune --storage is a file", "tune", lambda w: ["fusion", "--storage", w.keep("runs")], "--storage", "is a file")
case("tune --storage inside a file", "tune", lambda w: ["fusion", "--storage", str(Path(w.keep("runs")) / "sub")],
     "--storage", "is not a folder")
case("tune --storage that cannot be created (/proc)", "tune", lambda w: ["fusion", "--storage", "/proc/faceauth-runs"],
     "--storage", "/proc/faceauth-runs")
case("tune --storage on a read-only disk", "tune", lambda w: ["fusion", "--storage", str(w.readonly / "runs")],
     "--storage", "readonly", needs_disk=True)
case("tune --mlflow with a URI MLflow cannot use", "tune",
     lambda w: ["fusion", "--mlflow", "ftp://mlflow.example", "--storage", str(w.tmp / "runs")], "--mlflow", "ftp://mlflow.example")
for _task in ("fusion", "liveness", "temporal"):
    case(f"train {_task} --log-dir is a file", "train",
         lambda w, t=_task: [t, "--synthetic", "--smoke-test", "--log-dir", w.keep("logs.txt"),
                             *(["--output", str(w.tmp / "o.pth")] if t == "fusion" else ["--output_dir", str(w.tmp / "o")])],
         "--log-dir", "logs.txt")
if not torch.cuda.is_available():
    case("train --device cuda on a machine without a GPU", "train",
         lambda w: ["fusion", "--synthetic", "--smoke-test", "--device", "cuda", "--output", str(w.tmp / "o.pth"),
                    "--log-dir", w.logs], "cuda", "--device")
case("tune --address that is not an address", "tune", lambda w: ["fusion", "--address", "head-node", "--storage", str(w.tmp / "r")],
     "--address", "HOST:PORT")
case("tune --address where nothing answers", "tune", lambda w: ["fusion", "--address", "127.0.0.1:1", "--storage", str(w.tmp / "r")],
     "--address", "nothing answers")
case("tune unknown task", "tune", lambda w: ["facenet"], "facenet")
case("train unknown task", "train", lambda w: ["facenet"], "facenet")
case("train epochs flag negative", "train", lambda w: ["fusion", "--synthetic", "--epochs", "-3", "--output", w.keep("o.pth")],
     "epochs")
case("train flag not a number", "train", lambda w: ["fusion", "--lr", "fast"], "--lr")
case("train a model too large for memory", "train",
     lambda w: ["fusion", "--synthetic", "--num-identities", "30", "--samples-per-id", "6", "--fusion_kind", "mlp",
                "--config", w.file("big.yaml", "hidden_sizes: [1000000000000]\n"),  # 10^12 units: no machine allocates it
                "--output", w.keep("big.pth"), "--log-dir", w.logs], "out of memory")


# ---- Parquet embeddings -------------------------------------------------------------------------------
def bad_parquet(w: World, **overrides) -> str:
    return str(write_parquet(w.tmp / "bad.parquet", overrides.pop("_ids", ids()), **overrides))


N = len(ids())
PARQUETS = {
    "missing": (lambda w: str(w.tmp / "nope.parquet"), "nope.parquet"),
    "not Parquet": (lambda w: w.file("bad.parquet", "identity,x\na,1\n"), "bad.parquet"),
    "no identity column": (lambda w: str(_write(w, {c: _floats(N, 8) for c in COLUMNS})), "identity"),
    "string embedding column": (lambda w: bad_parquet(w, **{COLUMNS[0]: pa.array(["x"] * N)}), COLUMNS[0]),
    "scalar embedding column": (lambda w: bad_parquet(w, **{COLUMNS[0]: pa.array(np.ones(N))}), COLUMNS[0]),
    "nested list embedding column": (lambda w: bad_parquet(w, **{COLUMNS[0]: pa.array([[[1.0, 2.0]]] * N)}), COLUMNS[0]),
    "list-typed identity column": (lambda w: bad_parquet(w, identity=pa.array([[i] for i in ids()])), "identity"),
    "NaN in an embedding": (lambda w: bad_parquet(w, **{COLUMNS[1]: pa.array([[float("nan")] * 8] + [[0.5] * 8] * (N - 1),
                                                                             type=pa.list_(pa.float32()))}), COLUMNS[1]),
    "ragged embedding sizes": (lambda w: bad_parquet(w, **{COLUMNS[2]: pa.array([[0.5] * 8] * (N - 1) + [[0.5] * 7],
                                                                               type=pa.list_(pa.float32()))}), COLUMNS[2]),
    "identity with one sample": (lambda w: bad_parquet(w, _ids=ids()[:-1] + ["lonely"]), "lonely"),
    "empty table": (lambda w: bad_parquet(w, _ids=[]), "bad.parquet"),
    "too few identities": (lambda w: bad_parquet(w, _ids=ids(3)), "identit"),
}


def _floats(n: int, dim: int):
    return pa.array(list(np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)), type=pa.list_(pa.float32()))


def _write(w: World, columns: dict) -> Path:
    path = w.tmp / "bad.parquet"
    pq.write_table(pa.table(columns), path)
    return path


# The columns named, as a user does whose file also holds other columns.
NAMED_COLUMNS = "embedding_columns: [" + ", ".join(COLUMNS) + "]\n"
for _kind, (_make, _named) in PARQUETS.items():
    case(f"train fusion embeddings: {_kind}", "train",
         lambda w, m=_make: ["fusion", "--embeddings", m(w), "--config", w.file("cols.yaml", NAMED_COLUMNS),
                             "--output", w.keep("out.pth"), "--log-dir", w.logs], _named)
for _kind in ("missing", "not Parquet", "string embedding column", "no identity column", "list-typed identity column"):
    case(f"evaluate test data: {_kind}", "evaluate",
         lambda w, m=PARQUETS[_kind][0]: ["--model-path", str(w.model), "--test-data", m(w),
                                          "--output-json", w.keep("eval.json")], PARQUETS[_kind][1])
case("evaluate test data of the wrong kind (a liveness folder for a fusion model)", "evaluate",
     lambda w: ["--model-path", str(w.model), "--test-data", str(w.live), "--output-json", w.keep("eval.json")],
     "is a folder, not a Parquet file")


# ---- checkpoints ----------------------------------------------------------------------------------
class Plant:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def altered_checkpoint(w: World, change: Callable[[dict], None]) -> str:
    checkpoint = load_checkpoint(w.model)
    change(checkpoint)
    path = w.tmp / "altered.pth"
    torch.save(checkpoint, path)
    return str(path)


def _shape_mismatch(c: dict) -> None:
    key = next(iter(c["state_dict"]))
    c["state_dict"][key] = torch.zeros(3, 3, 3)


def _planted(w: World) -> str:
    path = w.tmp / "planted.pth"
    torch.save({"format": "faceauth-checkpoint/1", "x": Plant(str(w.tmp / "code-ran"))}, path)
    return str(path)


CHECKPOINTS = {
    "missing": (lambda w: str(w.tmp / "nope.pth"), "nope.pth"),
    "not a checkpoint": (lambda w: w.file("junk.pth", os.urandom(256)), "junk.pth"),
    "a pickle that runs code": (_planted, "planted.pth"),
    "a plain tensor file": (lambda w: (torch.save({"weights": torch.ones(2)}, w.tmp / "plain.pth"), str(w.tmp / "plain.pth"))[1],
                            "plain.pth"),
    "missing state_dict": (lambda w: altered_checkpoint(w, lambda c: c.pop("state_dict")), "state_dict"),
    "missing model_args": (lambda w: altered_checkpoint(w, lambda c: c.pop("model_args")), "model_args"),
    "mismatched shapes": (lambda w: altered_checkpoint(w, _shape_mismatch), "altered.pth"),
    "unknown task": (lambda w: altered_checkpoint(w, lambda c: c.update(task="facenet")), "facenet"),
    "a folder": (lambda w: (os.makedirs(w.tmp / "dir.pth"), str(w.tmp / "dir.pth"))[1], "dir.pth"),
}


def no_code_ran(w: World) -> None:
    assert not (w.tmp / "code-ran").exists(), "a pickle in a checkpoint ran code"


for _kind, (_make, _named) in CHECKPOINTS.items():
    case(f"evaluate checkpoint: {_kind}", "evaluate",
         lambda w, m=_make: ["--model-path", m(w), "--output-json", w.keep("eval.json")], _named, check=no_code_ran)
    case(f"export checkpoint: {_kind}", "export",
         lambda w, m=_make: ["--model-path", m(w), "--output-path", w.keep("m.onnx")], _named, check=no_code_ran)


# ---- output paths ---------------------------------------------------------------------------------
def fifo(w: World) -> str:
    path = w.tmp / "pipe"
    os.mkfifo(path)
    return str(path)


def inside_a_file(w: World) -> str:
    return str(Path(w.keep("plain.txt")) / "out.x")


def a_folder(w: World) -> str:
    (w.tmp / "folder").mkdir()
    return str(w.tmp / "folder")


OUTPUTS = {"a folder": (a_folder, "folder"), "a FIFO": (fifo, "pipe"), "inside a file": (inside_a_file, "plain.txt")}
for _kind, (_make, _named) in OUTPUTS.items():
    case(f"train --output {_kind}", "train",
         lambda w, m=_make: ["fusion", "--synthetic", "--output", m(w), "--log-dir", w.logs], _named)
    case(f"export --output-path {_kind}", "export", lambda w, m=_make: ["--model-path", str(w.model), "--output-path", m(w)], _named)
    case(f"evaluate --output-json {_kind}", "evaluate",
         lambda w, m=_make: ["--model-path", str(w.model), "--output-json", m(w)], _named)
    case(f"embed --output {_kind}", "embed", lambda w, m=_make: [str(w.live), "--embedder", "arcface=m.onnx", "--output", m(w)], _named)
case("export onto its own checkpoint", "export", lambda w: ["--model-path", str(w.model), "--output-path", str(w.model)],
     "also an input")
case("evaluate without --test-data of a model trained on files", "evaluate",
     lambda w: ["--model-path", str(w.model), "--output-json", w.keep("eval.json")], "embeddings", "--test-data")
case("evaluate output onto its test data", "evaluate",
     lambda w: ["--model-path", str(w.model), "--test-data", str(w.embeddings), "--output-json", str(w.embeddings)], "also an input")
case("train --output in a folder that cannot be created (/proc)", "train",
     lambda w: ["fusion", "--synthetic", "--output", "/proc/faceauth-x/m.pth", "--log-dir", w.logs], "--output",
     "/proc/faceauth-x/m.pth", "cannot be written")
case("train --output on a read-only disk", "train",
     lambda w: ["fusion", "--synthetic", "--output", str(w.readonly / "m.pth"), "--log-dir", w.logs], "--output", "readonly",
     needs_disk=True)
case("export --output-path on a full disk keeps the old file", "export",
     lambda w: ["--model-path", str(w.model), "--output-path", str(w.full / "m.onnx")], "m.onnx", needs_disk=True)
case("evaluate --output-json on a full disk keeps the old file", "evaluate",
     lambda w: ["--model-path", str(w.model), "--test-data", str(w.embeddings), "--output-json", str(w.full / "eval.json")],
     "eval.json", needs_disk=True)


# ---- face images, embedders, liveness folders -----------------------------------------------------
case("embed without a folder", "embed", lambda w: ["--embedder", "arcface=m.onnx", "--output", w.keep("e.parquet")], "data_dir")
case("embed a folder that is not there", "embed",
     lambda w: [str(w.tmp / "nofaces"), "--embedder", "arcface=m.onnx", "--output", w.keep("e.parquet")], "nofaces")
case("embed with a malformed --embedder", "embed",
     lambda w: [str(w.live), "--embedder", "arcface", "--output", w.keep("e.parquet")], "arcface")
case("embed with an unknown embedder family", "embed",
     lambda w: [str(w.live), "--embedder", f"mine={w.file('x.onnx', b'x')}", "--output", w.keep("e.parquet")], "mine")
case("embed with an embedder model that is not there", "embed",
     lambda w: [str(w.live), "--embedder", f"arcface={w.tmp / 'none.onnx'}", "--output", w.keep("e.parquet")], "none.onnx")
case("embed with an embedder model that is not ONNX", "embed",
     lambda w: [str(w.live), "--embedder", f"arcface={w.file('x.onnx', b'not onnx')}", "--output", w.keep("e.parquet")], "x.onnx")
for _name in ("../evil", "a/b", "..", ".hidden", "a\\b"):
    case(f"embedder name with path characters: {_name!r}", "embed",
         lambda w, n=_name: [str(w.live), "--embedder", f"{n}={w.file('x.onnx', b'x')},family=arcface", "--output", w.keep("e.parquet")],
         "name")
case("liveness data_root that is not there", "train",
     lambda w: ["liveness", "--data_root", str(w.tmp / "nowhere"), "--output_dir", str(w.tmp / "o"), "--log-dir", w.logs],
     "nowhere")
case("liveness data_root without val/", "train",
     lambda w: ["liveness", "--data_root", _without(w, "val"), "--output_dir", str(w.tmp / "o"), "--log-dir", w.logs], "val")
case("liveness split without spoof images", "train",
     lambda w: ["liveness", "--data_root", _without(w, "test/spoof"), "--output_dir", str(w.tmp / "o"), "--log-dir", w.logs],
     "spoof")
case("liveness unreadable image", "train",
     lambda w: ["liveness", "--data_root", _with_corrupt(w), "--output_dir", str(w.tmp / "o"), "--log-dir", w.logs,
                "--cache-dir", str(w.tmp / "cache")], "broken.jpg")
case("liveness cache on a full disk", "train",
     lambda w: ["liveness", "--data_root", _big_live(w), "--output_dir", str(w.tmp / "o"), "--log-dir", w.logs,
                "--cache-dir", str(w.full), "--image_size", "128"], "cache", needs_disk=True, fill_disk=False,
     check=lambda w: _no_tmp_left(w.full))
case("liveness cache in a read-only folder", "train",
     lambda w: ["liveness", "--data_root", str(w.live), "--output_dir", str(w.tmp / "o"), "--log-dir", w.logs,
                "--cache-dir", str(w.readonly)], "cache", needs_disk=True)


def _copy_live(w: World) -> Path:
    import shutil

    root = w.tmp / "live"
    shutil.copytree(w.live, root)
    return root


def _without(w: World, part: str) -> str:
    import shutil

    root = _copy_live(w)
    shutil.rmtree(root / part)
    return str(root)


def _with_corrupt(w: World) -> str:
    root = _copy_live(w)
    (root / "train" / "live" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return str(root)


def _big_live(w: World) -> str:
    """Enough images that their 128 px cache (about 3 MB) cannot fit on the 1 MiB disk."""
    root = _copy_live(w)
    for i in range(60):
        write_image(root / "train" / "live" / f"more{i}.png", 1000 + i, size=16)
    return str(root)


def _no_tmp_left(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if "tmp" in p.name]
    assert not left, f"temporary files left behind: {left}"


# ---- verification benchmarks (--benchmark) ---------------------------------------------------------
def bench_embedders(w: World, names=COLUMNS) -> list[str]:
    """--embedder flags named as the model's embedders; the ONNX files are only opened to embed, which
    every case but the undecodable image stops before."""
    return [arg for name in names for arg in ("--embedder", f"{name}={w.tmp / (name + '.onnx')}")]


def bench(w: World, benchmark: str, *extra: str) -> list[str]:
    return ["--model-path", str(w.model), "--benchmark", benchmark, *bench_embedders(w), *extra,
            "--output-json", w.keep("eval.json")]


def bin_file(w: World, name: str, content) -> str:
    """A .bin holding `content` pickled as a Python 3 writer does."""
    return w.file(name, pickle.dumps(content, protocol=3))


def _undecodable(w: World) -> str:
    """A well-formed .bin whose first image is no image, embedded by real ONNX models of the model's names."""
    images, same = bin_pairs(10)
    built = build_embedders(w.tmp)
    for name, (path, _) in built.items():
        path.rename(w.tmp / f"{name}.onnx")
    return str(write_bin(w.tmp / "bad_image.bin", [b"\xff\xd8 not a jpeg"] + images[1:], same))


def _lfw(w: World, edit=None, missing: str | None = None) -> str:
    root = write_lfw(w.tmp / "LFW", sets=10, matched=1, people=4)
    if edit:
        lines = (root / "pairs.txt").read_text().splitlines()
        (root / "pairs.txt").write_text("\n".join(edit(lines)) + "\n")
    if missing:
        (root / "lfw" / missing.split("_0")[0] / missing).unlink()
    return str(root)


def _first_image(w: World) -> str:
    person, number = (w.tmp / "LFW" / "pairs.txt").read_text().splitlines()[1].split("\t")[:2]
    return f"{person}_{int(number):04d}.jpg"


BENCHMARKS = {
    "a pickle that runs code": (lambda w: bin_file(w, "planted.bin", ([Plant(str(w.tmp / "code-ran"))], [True])),
                                ("planted.bin", "refused", "io.open")),
    "a .bin cut short": (lambda w: w.file("cut.bin", pickle.dumps(bin_pairs(10), protocol=3)[:5000]), ("cut.bin", "cut short")),
    "a .bin that is not a 2-tuple": (lambda w: bin_file(w, "three.bin", ([], [], [])), ("three.bin", "not a 2-tuple")),
    "a .bin with more labels than image pairs": (lambda w: bin_file(w, "short.bin", (bin_pairs(10)[0][:18], [True, False] * 5)),
                                                 ("short.bin", "18 images for 10 labels")),
    "a .bin with a label that is not a bool": (lambda w: bin_file(w, "label.bin", (bin_pairs(10)[0], [True, False, True, 1] + [False] * 6)),
                                               ("label.bin", "label 3 is 1 (int)")),
    "a .bin image that cannot be decoded": (_undecodable, ("bad_image.bin", "image 0 (pair 0)", "cannot be decoded")),
    "a .bin that is not there": (lambda w: str(w.tmp / "nope.bin"), ("nope.bin", "does not exist")),
    "a folder without pairs.txt": (lambda w: (os.makedirs(w.tmp / "empty_lfw"), str(w.tmp / "empty_lfw"))[1],
                                   ("empty_lfw", "pairs.txt")),
    "a malformed pairs.txt line": (lambda w: _lfw(w, lambda lines: lines[:3] + ["Person_A\tone\t2"] + lines[4:]),
                                   ("pairs.txt, line 4", "Person_A")),
    "a pairs.txt name that leaves the image folder": (lambda w: _lfw(w, lambda lines: lines[:2] + ["..\t1\t2"] + lines[3:]),
                                                     ("pairs.txt, line 3", "path characters")),
    "a pairs.txt header that is no header": (lambda w: _lfw(w, lambda lines: ["ten sets"] + lines[1:]), ("pairs.txt, line 1",)),
    "a pairs.txt shorter than its header says": (lambda w: _lfw(w, lambda lines: lines[:-3]), ("pairs.txt", "cut short")),
    "a pairs.txt line naming a missing image": (lambda w: _lfw(w, missing="Person_B_0003.jpg"),
                                                ("pairs.txt, line", "Person_B_0003.jpg", "does not exist")),
}
for _kind, (_make, _named) in BENCHMARKS.items():
    case(f"evaluate benchmark: {_kind}", "evaluate", lambda w, m=_make: bench(w, m(w)), *_named, check=no_code_ran)
case("evaluate benchmark without --embedder", "evaluate",
     lambda w: ["--model-path", str(w.model), "--benchmark", bin_file(w, "lfw.bin", bin_pairs(10)),
                "--output-json", w.keep("eval.json")], "--benchmark", "--embedder NAME=MODEL.onnx")
case("evaluate benchmark with --test-data", "evaluate",
     lambda w: bench(w, bin_file(w, "lfw.bin", bin_pairs(10)), "--test-data", str(w.embeddings)), "--test-data")
case("evaluate benchmark with embedders the model does not fuse", "evaluate",
     lambda w: ["--model-path", str(w.model), "--benchmark", bin_file(w, "lfw.bin", bin_pairs(10)),
                *bench_embedders(w, ("arcface", "facenet")), "--output-json", w.keep("eval.json")], "missing mobilefacenet")
case("evaluate benchmark with a cache folder that cannot be created (/proc)", "evaluate",
     lambda w: bench(w, bin_file(w, "lfw.bin", bin_pairs(10)), "--cache-dir", "/proc/faceauth-cache"),
     "/proc/faceauth-cache", "--cache-dir")
case("train fusion --benchmark without --embedder", "train",
     lambda w: ["fusion", "--embeddings", str(w.embeddings), "--benchmark", bin_file(w, "lfw.bin", bin_pairs(10)),
                "--output", w.keep("out.pth"), "--log-dir", w.logs], "benchmarks", "--embedder")
case("train fusion --benchmark that is cut short (named before training)", "train",
     lambda w: ["fusion", "--embeddings", str(w.embeddings), *bench_embedders(w), "--benchmark",
                w.file("cut.bin", pickle.dumps(bin_pairs(10), protocol=3)[:5000]), "--output", w.keep("out.pth"),
                "--log-dir", w.logs], "cut.bin")
case("tune fusion --benchmark with --synthetic", "tune",
     lambda w: ["fusion", "--synthetic", "--benchmark", bin_file(w, "lfw.bin", bin_pairs(10)),
                "--storage", str(w.tmp / "runs"), "--log-dir", w.logs], "benchmarks")


# ---- public anti-spoofing datasets as they ship (faceauth.tasks.pad_datasets) ---------------------------
def _oulu(w: World, change: Callable[[Path], None]) -> str:
    """A small OULU-NPU copy with one thing wrong."""
    root = write_oulu(w.tmp / "oulu", users={"Train_files": (1,), "Dev_files": (21,), "Test_files": (36,)},
                      phones=(1, 2, 3, 4, 5, 6), sessions=(1, 3))
    change(root)
    return str(root)


def _missing_video(root: Path) -> None:
    (root / "Train_files" / "1_1_01_2.avi").unlink()  # listed in Protocol_1/Train.txt


def _unknown_label(root: Path) -> None:
    lists = root / "Protocols" / "Protocol_2" / "Dev.txt"
    lists.write_text(lists.read_text().replace("+1,", "live,", 1))


def _casia_unknown(w: World) -> str:
    root = write_casia(w.tmp / "casia", train_subjects=2, test_subjects=1)
    (root / "test_release" / "1" / "HR_5.avi").write_bytes(b"")
    return str(root)


def _celeba_cut(w: World) -> str:
    root = write_celeba_spoof(w.tmp / "celeba", train_subjects=2, test_subjects=1, per_kind=1)
    labels = root / "CelebA_Spoof" / "metas" / "intra_test" / "test_label.json"
    labels.write_text(labels.read_text()[:-30])
    return str(root)


def _replay_bad_face(w: World) -> str:
    root = write_replay(w.tmp / "replay", clients={"train": (1,), "devel": (3,), "test": (5,)})
    face = next((root / "face-locations" / "test" / "real").glob("*.face"))
    face.write_text("0 10 10 forty 40\n")
    return str(root)


def _pad(argv: Callable[[World], str], *extra: str):
    return lambda w: ["liveness", "--data-root", argv(w), *extra, "--smoke-test", "--cache-dir", str(w.tmp / "cache"),
                      "--output-dir", str(w.tmp / "o"), "--log-dir", w.logs]


case("OULU-NPU protocol line naming a missing video", "train",
     _pad(lambda w: _oulu(w, _missing_video), "--protocol", "oulu-npu-1"), "Protocol_1/Train.txt, line", "1_1_01_2")
case("OULU-NPU protocol line with an unknown label", "train",
     _pad(lambda w: _oulu(w, _unknown_label), "--protocol", "oulu-npu-2"), "Protocol_2/Dev.txt, line 1", "unknown label")
case("OULU-NPU protocol on another dataset", "train",
     _pad(_casia_unknown, "--protocol", "oulu-npu-3"), "HR_5.avi")
case("CASIA-FASD video with an unknown label", "train", _pad(_casia_unknown), "test_release/1/HR_5.avi", "unknown label")
case("CelebA-Spoof label file cut short", "train", _pad(_celeba_cut), "test_label.json", "JSON")
case("Replay-Attack face box file with a bad line", "train", _pad(_replay_bad_face), ".face, line 1")
case("a dataset named that is not there", "train",
     _pad(lambda w: str(write_casia(w.tmp / "casia", train_subjects=2, test_subjects=1)), "--dataset", "oulu-npu"),
     "does not look like oulu-npu")


# ---- the datasets command -------------------------------------------------------------------------
case("datasets fusion: too few identities", "datasets", lambda w: ["fusion", str(w.tmp / "d"), "--identities", "1"], "--identities")
case("datasets liveness: difficulty above 1", "datasets", lambda w: ["liveness", str(w.tmp / "d"), "--difficulty", "2"],
     "--difficulty")
case("datasets liveness: too few per class", "datasets", lambda w: ["liveness", str(w.tmp / "d"), "--per-class", "1"], "--per-class")
case("datasets liveness: OUT_DIR is a file", "datasets", lambda w: ["liveness", w.keep("d"), "--per-class", "12"], "d")
case("datasets fusion: OUT_DIR is a file", "datasets", lambda w: ["fusion", w.keep("d"), "--identities", "6"], "d")
case("datasets: unknown task", "datasets", lambda w: ["faces", str(w.tmp / "d")], "faces")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.name != "pipe"}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, world, tmp_path, capsys, request):
    spec = CASES[name]
    world.tmp = tmp_path
    if spec.needs_disk:
        world.full, world.readonly = request.getfixturevalue("small_disk")
        clear(world.full)
        if "old file" in name:
            (world.full / ("m.onnx" if "export" in name else "eval.json")).write_bytes(b"the old file")
        if spec.fill_disk:
            fill(world.full)
    argv = spec.argv(world)
    before = {**snapshot(tmp_path), **(snapshot(world.full) if spec.needs_disk else {})}
    before_world = snapshot(world.root / "live")
    try:
        code = COMMANDS[spec.command].main(argv)
    except SystemExit as exit_:  # argparse: a usage line and exit 2
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == spec.code, f"exit {code}; stdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    assert "Traceback" not in out + err
    assert not re.search(r"^epoch +\d", out, re.M), "refused only after training: bad input is checked before any work"
    assert "error:" in err, err[-2000:]
    message = err[err.index("error:"):]  # one line, or a list of every problem found at once
    for named in spec.names:
        assert named in message, f"{named!r} not named in: {message}"
    after = {**snapshot(tmp_path), **(snapshot(world.full) if spec.needs_disk else {})}
    changed = [p for p, content in before.items() if after.get(p) != content and not p.endswith("filler")]
    assert not changed, f"changed or removed by a failed command: {changed}"
    assert snapshot(world.root / "live") == before_world
    if spec.check:
        spec.check(world)
    if spec.needs_disk:
        clear(world.full)


def clear(folder: Path) -> None:
    import shutil

    for path in folder.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_the_matrix_is_large():
    assert len(CASES) >= 100


def test_a_feature_cache_that_cannot_be_written_is_named_not_blamed_on_the_video(tmp_path):
    """Its write error used to be listed as a problem of the video (with --skip-invalid as the advice)."""
    from faceauth.io.errors import FaceauthError
    from faceauth.tasks.temporal.features import FeatureCache

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(FaceauthError, match="cannot write the feature cache in .*temporal-features"):
        FeatureCache(blocker, "extractor").save("key", np.zeros((4, 3), np.float32))
