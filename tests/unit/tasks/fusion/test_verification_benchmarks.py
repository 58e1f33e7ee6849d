"""Verification benchmarks as the field ships them (insightface .bin files, LFW folders with pairs.txt):
read with a restricted unpickler, embedded with the flip-sum, scored with the field's 10-fold protocol
beside the baselines. Real files, real onnxruntime, a fused model trained here on face images."""

from __future__ import annotations

import io
import json
import os
import pickle
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from faceauth import evaluate as evaluate_cli
from faceauth import train as train_cli
from faceauth.io.errors import FaceauthError
from faceauth.evaluation.metrics import tenfold_accuracy
from faceauth.tasks import get_task, load_task_checkpoint
from faceauth.tasks.fusion import benchmark_embeddings
from faceauth.tasks.fusion.baselines import baseline_embeddings
from faceauth.tasks.fusion.benchmarks import open_benchmark
from faceauth.tasks.fusion.embedding_set import EmbeddingSet
from faceauth.evaluation.verdict import _weights, tenfold_differences
from tests.benchmark_files import bin_pairs, write_bin, write_lfw
from tests.unit.tasks.fusion.test_embed import ARCHITECTURES, build_embedders, embedder_flags, write_faces

NAMES = tuple(ARCHITECTURES)


def field_tenfold(distances, same, k=10):
    """insightface's calculate_accuracy loop as FORMATS-style reference code: contiguous folds, thresholds
    0..3.99 step 0.01, np.argmax over the training accuracies, np.mean / np.std of the fold accuracies."""
    y = np.asarray(same, bool)
    thresholds, folds, accuracies, chosen = np.arange(0, 4, 0.01), np.array_split(np.arange(len(y)), k), [], []
    for i, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != i])
        best = thresholds[np.argmax([np.mean((distances[train] < t) == y[train]) for t in thresholds])]
        chosen.append(best)
        accuracies.append(np.mean((distances[test] < best) == y[test]))
    return float(np.mean(accuracies)), float(np.std(accuracies)), np.asarray(chosen)


def contiguous_folds(n, k=10):
    return np.concatenate([np.full(len(p), i) for i, p in enumerate(np.array_split(np.arange(n), k))])


# ---- the 10-fold protocol ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_tenfold_accuracy_equals_the_field_loop_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 300))
    same = rng.random(n) < 0.5
    # Distances on the threshold grid itself (ties with thresholds: "same" is strictly below) and off it.
    distances = np.where(rng.random(n) < 0.5, rng.integers(0, 400, n) / 100, rng.uniform(0, 4, n))
    distances = np.where(same, distances * rng.uniform(0.3, 1.0), distances)
    mean, std, thresholds = field_tenfold(distances, same)
    result = tenfold_accuracy(distances, same, contiguous_folds(n))
    assert result.mean == pytest.approx(mean, abs=1e-12) and result.std == pytest.approx(std, abs=1e-12)
    assert np.array_equal(result.fold_thresholds, thresholds)
    # Each pair's decision is at its own fold's threshold.
    assert np.array_equal(result.correct, (distances < thresholds[contiguous_folds(n)]) == same)


def test_tenfold_accuracy_known_cases():
    same = np.tile([True, False], 50)
    separable = np.where(same, 0.4, 1.6)
    result = tenfold_accuracy(separable, same, contiguous_folds(100))
    assert result.mean == 1.0 and result.std == 0.0
    assert np.all(result.fold_thresholds == pytest.approx(0.41))  # the first threshold above every genuine distance
    inverted = np.where(same, 1.6, 0.4)  # genuine pairs far apart: the best rule says "different" to every pair
    result = tenfold_accuracy(inverted, same, contiguous_folds(100))
    assert result.mean == 0.5 and np.all(result.fold_thresholds == 0.0)
    uneven = np.where(same, 0.4, 1.6)
    uneven[:10] = 3.0  # fold 0's five genuine pairs are far: 5 of 10 wrong there, the rest right
    result = tenfold_accuracy(uneven, same, contiguous_folds(100))
    assert result.fold_accuracies[0] == 0.5 and np.all(result.fold_accuracies[1:] == 1.0)
    assert result.mean == pytest.approx(0.95) and result.std == pytest.approx(np.std([0.5] + [1.0] * 9))


def test_bootstrap_of_the_accuracy_difference_reweights_units_as_drawn():
    rng = np.random.default_rng(3)
    n = 60
    folds = contiguous_folds(n)
    correct = {"fused": rng.random(n) < 0.9, "baseline": rng.random(n) < 0.7}
    identities = rng.integers(0, 12, (n, 2))
    differences = tenfold_differences(correct, folds, identities, resamples=5, seed=11)
    difference, samples = differences["baseline"]

    def accuracy(name, weights):
        return np.mean([np.sum(weights[folds == k] * correct[name][folds == k]) / weights[folds == k].sum()
                        for k in range(10) if weights[folds == k].sum() > 0])

    assert difference == pytest.approx(accuracy("fused", np.ones(n)) - accuracy("baseline", np.ones(n)))
    units = np.unique(identities)
    draws = np.random.default_rng(11)
    for sample in samples:
        counts = np.bincount(draws.integers(0, units.size, units.size), minlength=units.size)
        weights = _weights(np.searchsorted(units, identities), counts)
        assert sample == pytest.approx(accuracy("fused", weights) - accuracy("baseline", weights))
    same = tenfold_differences({"a": correct["fused"], "b": correct["fused"]}, folds, np.arange(n), resamples=50)["b"]
    assert same[0] == 0 and np.all(same[1] == 0)


# ---- reading ------------------------------------------------------------------------------------------------------
def test_the_three_bin_encodings_read_alike(tmp_path):
    images, same = bin_pairs(24)
    read = [open_benchmark(write_bin(tmp_path / f"{style}.bin", images, same, style)) for style in ("protocol3", "py2", "ndarray")]
    for benchmark in read:
        assert benchmark.images == images and benchmark.same.tolist() == same
        assert benchmark.first.tolist() == list(range(0, 48, 2)) and benchmark.second.tolist() == list(range(1, 48, 2))
        assert benchmark.folds.tolist() == contiguous_folds(24).tolist() and benchmark.unit == "pairs"


def test_lfw_folder_pairs_file_and_view1(tmp_path):
    root = write_lfw(tmp_path / "LFW", images="lfw-deepfunneled")
    folder, file = open_benchmark(root), open_benchmark(root / "pairs.txt")
    assert len(folder) == 40 and folder.unit == "identities" and folder.groups.shape == (40, 2)
    assert folder.folds.tolist() == np.repeat(np.arange(10), 4).tolist()  # each set of pairs.txt is a fold
    assert folder.same.tolist() == [True, True, False, False] * 10
    assert [str(p) for p in folder.images] == [str(p) for p in file.images]
    assert all("lfw-deepfunneled" in str(p) for p in folder.images)
    lines = (root / "pairs.txt").read_text().splitlines()
    person, n1, n2 = lines[1].split("\t")
    assert folder.images[folder.first[0]].name == f"{person}_{int(n1):04d}.jpg"
    view1 = open_benchmark(write_lfw(tmp_path / "View1", sets=1, matched=20) / "pairs.txt")
    assert len(view1) == 40 and sorted(np.bincount(view1.folds)) == [4] * 10
    assert all(view1.same[view1.folds == k].sum() == 2 for k in range(10))  # both kinds in every fold


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps(([RunsCode(marker)], [True]), protocol=2))
    with pytest.raises(FaceauthError, match=r"lfw\.bin: refused: the pickle asks for (posix|os)\.system") as err:
        open_benchmark(path)
    assert "\n" not in str(err.value) and not marker.exists()
    assert pickle.loads(path.read_bytes()) is not None and marker.exists()  # a plain pickle.load would have run it


# ---- end to end: a fused model on benchmarks -------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The three test embedders and a fused model trained on face images with them (one epoch)."""
    root = tmp_path_factory.mktemp("trained")
    models = build_embedders(root)
    paths = {name: path for name, (path, _) in models.items()}
    output = root / "fusion.pth"
    assert train_cli.main(["fusion", "--data_dir", str(write_faces(root / "faces")), *embedder_flags(paths),
                           *small_model(root), "--output", str(output), "--log-dir", str(root / "logs")]) == 0
    return models, paths, output


def small_model(folder):
    config = folder / "small.yaml"
    config.write_text("epochs: 1\nbatch_size: 8\nfusion: {hidden_sizes: [16], out_dim: 16}\n")
    return ["--config", str(config)]


def flip_summed_by_hand(module, name, jpeg):
    """The torch module on the image prepared as the embedder's family says, plus the mirror image's."""
    order, mean, std, channels_last = ARCHITECTURES[name][3]
    shape = ARCHITECTURES[name][1]
    height, width = shape[1:3] if channels_last else shape[2:]
    x = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB").resize((width, height), Image.Resampling.BILINEAR), np.float32)
    x = ((x[..., ::-1] if order == "bgr" else x) - mean) / std
    both = torch.from_numpy(np.ascontiguousarray(np.stack([x, x[:, ::-1]])))
    with torch.no_grad():
        out = module(both if channels_last else both.permute(0, 3, 1, 2)).numpy()
    return out[0] + out[1]


def printed_accuracies(text, benchmark):
    """{system: (mean, std)} in percent from the benchmark's terminal table."""
    block = text[text.index(f"{benchmark}:"):]
    block = block[:block.index("How:")]
    return {m[1]: (float(m[2]), float(m[3])) for m in re.finditer(r"^  (\S+)\s+(\d+\.\d\d) ± (\d+\.\d\d) %", block, re.M)}


def test_evaluate_on_a_bin_prints_the_field_figures_for_fused_and_each_baseline(trained, tmp_path, capsys):
    models, paths, model_path = trained
    images, same = bin_pairs(40, seed=5)
    bin_path = write_bin(tmp_path / "agedb_30.bin", images, same, "py2")
    output = tmp_path / "eval.json"
    argv = ["--model-path", str(model_path), "--benchmark", str(bin_path), *embedder_flags(paths), "--output-json", str(output)]
    assert evaluate_cli.main(argv) == 0
    out = capsys.readouterr().out
    table = out[out.index("agedb_30.bin: 40 pairs"):out.index("metrics written to")]
    assert all(len(line) <= 120 for line in table.splitlines())
    assert "flipped left-right, the two embeddings summed" in out and "TAR@FAR=1e-2: not enough impostor pairs (20" in out

    # Everything recomputed here from the torch modules and the reference loop.
    arrays = {name: np.stack([flip_summed_by_hand(models[name][1], name, j) for j in images]) for name in NAMES}
    cached = {p.name.split("-")[0]: p for p in (tmp_path / ".faceauth-cache").glob("*flipsum.parquet")}
    for name in NAMES:
        table = pq.read_table(cached[name])
        assert np.allclose(np.stack(table.column(name).to_numpy(zero_copy_only=False)), arrays[name], atol=1e-4), name
    checkpoint = load_task_checkpoint(model_path)
    model = get_task("fusion").load_model(checkpoint)
    data = EmbeddingSet(np.concatenate([arrays[n] for n in NAMES], 1), np.zeros(80, np.int64), np.asarray(["-"]), NAMES,
                        tuple(a.shape[1] for a in arrays.values()), "x")
    with torch.no_grad():
        systems = {"fused": model(torch.from_numpy(data.embeddings)).numpy(), **arrays, **baseline_embeddings(data)}
    printed = printed_accuracies(out, "agedb_30.bin")
    written = json.loads(output.read_text())["benchmarks"]["agedb_30.bin"]
    assert list(printed) == ["fused", *NAMES, "score_average"] == list(written["systems"])
    for name, e in systems.items():
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        mean, std, thresholds = field_tenfold(((e[0::2] - e[1::2]) ** 2).sum(1), same)
        assert printed[name] == (round(100 * mean, 2), round(100 * std, 2)), name
        assert written["systems"][name]["fold_thresholds"] == pytest.approx(thresholds), name
    verdict = written["verdict"]
    assert verdict["metric"] == "accuracy_10fold" and verdict["unit"] == "pairs" and verdict["units"] == 40
    assert set(verdict["baselines"]) == {*NAMES, "score_average"} and verdict["summary"] in " ".join(out.split())


def test_the_cache_serves_a_second_run_and_a_changed_benchmark_is_embedded_again(trained, tmp_path, monkeypatch, capsys):
    _, paths, model_path = trained
    images, same = bin_pairs(20, seed=2)
    bin_path = write_bin(tmp_path / "lfw.bin", images, same)
    cache = tmp_path / "cache"
    argv = ["--model-path", str(model_path), "--benchmark", str(bin_path), *embedder_flags(paths), "--cache-dir", str(cache),
            "--output-json", str(tmp_path / "e.json")]
    assert evaluate_cli.main(argv) == 0
    first = json.loads((tmp_path / "e.json").read_text())
    assert len(list(cache.glob("*.parquet"))) == 3 and not (tmp_path / ".faceauth-cache").exists()

    def no_embedding(specs):
        raise FaceauthError(f"embedders opened again: {[s.name for s in specs]}")  # exit 2, this message

    monkeypatch.setattr(benchmark_embeddings, "open_embedders", no_embedding)
    assert evaluate_cli.main(argv) == 0
    assert json.loads((tmp_path / "e.json").read_text())["benchmarks"] == first["benchmarks"]
    assert "embeddings from the cache" in capsys.readouterr().out
    write_bin(bin_path, images[2:] + images[:2], same)  # other content, same name
    assert evaluate_cli.main(argv) == 2
    assert "embedders opened again" in capsys.readouterr().err


def test_an_lfw_folder_resamples_identities(trained, tmp_path, capsys):
    _, paths, model_path = trained
    root = write_lfw(tmp_path / "lfw_home")
    assert evaluate_cli.main(["--model-path", str(model_path), "--benchmark", str(root), *embedder_flags(paths),
                              "--output-json", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())["benchmarks"]["lfw_home"]
    assert result["folds"] == "the 10 sets of pairs.txt" and result["pairs"] == 40
    assert result["verdict"]["unit"] == "identities" and result["verdict"]["units"] == len(np.unique(
        open_benchmark(root).groups))
    assert "bootstrap over" in capsys.readouterr().out and (root / ".faceauth-cache").is_dir()
    # From Python, on the pairs.txt itself: the same pairs, folds and figures.
    import faceauth

    again = faceauth.evaluate(model_path, benchmarks=[root / "pairs.txt"], embedders=embedder_flags(paths)[1::2],
                              output_json=tmp_path / "api.json")["benchmarks"]["lfw_home"]
    assert again["systems"] == result["systems"] and again["verdict"] == result["verdict"]


def test_benchmark_misuse_is_refused_before_any_embedding(trained, tmp_path, monkeypatch, capsys):
    _, paths, model_path = trained
    bin_path = write_bin(tmp_path / "lfw.bin", *bin_pairs(12))
    monkeypatch.setattr(benchmark_embeddings, "compute", lambda *a, **k: pytest.fail("embedded"))
    base = ["--model-path", str(model_path), "--output-json", str(tmp_path / "e.json")]
    two = embedder_flags({name: paths[name] for name in NAMES[:2]})
    cases = {
        "needs the models": [*base, "--benchmark", str(bin_path)],
        "drop --test-data": [*base, "--benchmark", str(bin_path), *embedder_flags(paths), "--test-data", str(bin_path)],
        "missing mobilefacenet": [*base, "--benchmark", str(bin_path), *two],
        "not in the model: extra": [*base, "--benchmark", str(bin_path), *embedder_flags(paths), "--embedder",
                                    f"extra={paths['arcface']},family=arcface"],
        "--embedder is for --benchmark": [*base, *embedder_flags(paths)],
    }
    for expected, argv in cases.items():
        assert evaluate_cli.main(argv) == 2, expected
        assert expected in capsys.readouterr().err
    assert not (tmp_path / "e.json").exists()


def test_a_benchmark_is_refused_for_a_model_of_another_task(trained, tmp_path, capsys):
    _, paths, _ = trained
    assert train_cli.main(["liveness", "--synthetic", "--smoke-test", "--output_dir", str(tmp_path / "live"),
                           "--log-dir", str(tmp_path / "logs")]) == 0
    capsys.readouterr()
    model = next((tmp_path / "live").glob("*.pth"))
    assert evaluate_cli.main(["--model-path", str(model), "--benchmark", str(write_bin(tmp_path / "lfw.bin", *bin_pairs(12))),
                              *embedder_flags(paths), "--output-json", str(tmp_path / "e.json")]) == 2
    assert "--benchmark is for fusion models" in capsys.readouterr().err and not (tmp_path / "e.json").exists()


def test_train_fusion_with_a_benchmark_writes_its_figures_into_the_results(trained, tmp_path, capsys):
    """The benchmark's figures of the run's own model, as `faceauth evaluate --benchmark` gives them."""
    models, paths, _ = trained
    bin_path = write_bin(tmp_path / "cfp_fp.bin", *bin_pairs(30, seed=9))
    output = tmp_path / "run.pth"
    assert train_cli.main(["fusion", "--data_dir", str(write_faces(tmp_path / "faces", seed=4)), *embedder_flags(paths),
                           "--benchmark", str(bin_path), *small_model(tmp_path), "--output", str(output),
                           "--log-dir", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "run.metrics.json").read_text())
    figures = metrics["benchmarks"]["cfp_fp.bin"]
    assert list(figures["systems"]) == ["fused", *NAMES, "score_average"]
    report = (tmp_path / "run.report.md").read_text()
    assert "### Verification benchmarks" in report and figures["verdict"]["summary"] in report
    assert printed_accuracies(out, "cfp_fp.bin")["fused"] == (round(100 * figures["systems"]["fused"]["accuracy_10fold"], 2),
                                                             round(100 * figures["systems"]["fused"]["accuracy_10fold_std"], 2))
    assert evaluate_cli.main(["--model-path", str(output), "--benchmark", str(bin_path), *embedder_flags(paths),
                              "--output-json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["benchmarks"]["cfp_fp.bin"] == figures


def test_a_benchmark_needs_embedders_when_the_config_is_built(tmp_path, capsys):
    bin_path = write_bin(tmp_path / "lfw.bin", *bin_pairs(12))
    assert train_cli.main(["fusion", "--synthetic", "--benchmark", str(bin_path), "--output", str(tmp_path / "m.pth")]) == 2
    assert "benchmarks" in capsys.readouterr().err


@pytest.mark.slow
def test_a_search_reports_the_benchmark_in_best(trained, tmp_path, shared_ray):
    from faceauth import tune as tune_cli

    _, paths, _ = trained
    bin_path = write_bin(tmp_path / "lfw.bin", *bin_pairs(20, seed=1))
    assert tune_cli.main(["fusion", "--data_dir", str(write_faces(tmp_path / "faces")), *embedder_flags(paths),
                          "--benchmark", str(bin_path), "--trials", "2", *small_model(tmp_path), "--storage", str(tmp_path / "runs"),
                          "--name", "bench", "--log-dir", str(tmp_path / "logs")]) == 0
    best = tmp_path / "runs" / "bench" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert list(metrics["benchmarks"]["lfw.bin"]["systems"])[0] == "fused"
    assert "### Verification benchmarks" in (best / "report.md").read_text()
