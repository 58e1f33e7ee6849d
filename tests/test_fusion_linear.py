"""The closed-form linear fusion, the verdict's bootstrap and training against separate test data."""

import json

import numpy as np
import pytest
import torch

from faceauth import train as train_cli
from faceauth.checkpoint import load_checkpoint
from faceauth.metrics import roc_curve, verification_metrics
from faceauth.tasks import Evaluation
from faceauth.tasks.fusion import linear, synthetic
from faceauth.tasks.fusion.data import split_by_identity, verification_pairs
from faceauth.tasks.fusion.model import FusionModel
from faceauth.tasks.fusion.data import normalized_concat
from faceauth.tasks.fusion.model import pair_scores
from faceauth.fit import Objective
from faceauth.verdict import bootstrap_differences, build_verdict


def tar(embeddings, labels):
    first, second, genuine = verification_pairs(labels, 50_000, 0)
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    s = pair_scores(e, first, second)
    return verification_metrics(s[genuine], s[~genuine])["tar_at_far_1e-3"]


def test_score_average_candidate_is_score_averaging_exactly():
    data = synthetic.generate(synthetic.regime("balanced"), 20, 4, seed=1)
    model = FusionModel(data.model_dims, sum(data.model_dims))
    fusion = linear.score_average(sum(data.model_dims))
    model.set_linear(fusion.mean, fusion.weight)
    fused = model(torch.from_numpy(data.embeddings)).detach().numpy()
    parts = [p / np.linalg.norm(p, axis=1, keepdims=True) for p in data.per_model()]
    mean_cosine = sum(p @ p.T for p in parts) / len(parts)
    assert np.allclose(fused @ fused.T, mean_cosine, atol=1e-5)


def test_lda_removes_a_low_rank_shared_error_that_score_averaging_keeps():
    # The default regime's shared error is a 24-factor subspace: a linear fusion can project it out.
    splits = split_by_identity(synthetic.generate(synthetic.regime("default"), 200, 8, seed=3), 0.15, 0.15, 0)
    train, test = splits["train"], splits["test"]
    fusion = linear.ScatterStats(normalized_concat(train), train.labels).fit("lda", 0.3, 512)
    assert fusion.out_dim == len(train.identities) - 1
    x_test = normalized_concat(test)
    assert tar(fusion.apply(x_test), test.labels) > tar(x_test, test.labels) + 0.05


def test_choose_falls_back_to_score_averaging_when_nothing_beats_it():
    data = synthetic.generate(synthetic.regime("balanced"), 30, 4, seed=0)
    x = normalized_concat(data)
    chosen, scores = linear.choose(x, data.labels, 64, lambda f: (1.0,))  # every candidate ties
    assert chosen.kind == "score_average" and len(scores) == 1 + 2 * len(linear.SHRINKAGE_GRID)
    chosen, _ = linear.choose(x, data.labels, 64, lambda f: (f.shrinkage == 0.3 and f.kind == "whiten",))
    assert (chosen.kind, chosen.shrinkage) == ("whiten", 0.3)


def test_weighted_roc_counts_a_score_twice():
    once = roc_curve([0.9, 0.8, 0.2], [0.5, 0.1])
    twice = roc_curve([0.9, 0.8, 0.2, 0.2], [0.5, 0.1])
    weighted = roc_curve([0.9, 0.8, 0.2], [0.5, 0.1], positive_weights=[1, 1, 2])
    assert np.allclose(weighted.tpr, twice.tpr) and np.allclose(weighted.fpr, twice.fpr)
    assert not np.allclose(weighted.tpr, once.tpr)


def _evaluation(model_scores, baseline_scores, genuine_groups, impostor_groups):
    metrics = {name: verification_metrics(*s) for name, s in (("model", model_scores), ("baseline", baseline_scores))}
    return Evaluation(metrics, {"model": model_scores, "baseline": baseline_scores},
                      {"bootstrap_unit": "identities", "bootstrap_units": 40}, groups=(genuine_groups, impostor_groups))


def _pairs(identities=40, per_identity=3, seed=0):
    labels = np.repeat(np.arange(identities), per_identity)
    first, second, genuine = verification_pairs(labels, 10**9, seed)
    return np.stack([labels[first], labels[second]], 1), genuine


def test_verdict_identical_systems_show_no_difference():
    groups, genuine = _pairs()
    rng = np.random.default_rng(0)
    scores = np.where(genuine, rng.normal(1.5, 1, genuine.size), rng.normal(0, 1, genuine.size))
    split = (scores[genuine], scores[~genuine])
    verdict = build_verdict(_evaluation(split, split, groups[genuine], groups[~genuine]), Objective("tar_at_far_1e-2", "max"),
                            resamples=200)
    entry = verdict["baselines"]["baseline"]
    assert entry["difference"] == 0 and entry["ci95"] == [0, 0] and not entry["beats"]
    assert verdict["summary"].startswith("WARNING: the model does NOT beat baseline")


def test_verdict_interval_resamples_identities_and_names_a_worse_model_first():
    groups, genuine = _pairs()
    rng = np.random.default_rng(1)
    good = np.where(genuine, rng.normal(3.0, 1, genuine.size), rng.normal(0, 1, genuine.size))
    bad = np.where(genuine, rng.normal(1.0, 1, genuine.size), rng.normal(0, 1, genuine.size))
    evaluation = _evaluation((bad[genuine], bad[~genuine]), (good[genuine], good[~genuine]), groups[genuine], groups[~genuine])
    verdict = build_verdict(evaluation, Objective("tar_at_far_1e-2", "max"), advice="Try X.", resamples=300)
    entry = verdict["baselines"]["baseline"]
    assert entry["outcome"] == "worse" and entry["ci95"][1] < 0 < entry["baseline"] - entry["model"]
    assert verdict["summary"].startswith("WARNING") and "Try X." in verdict["summary"]
    # Over identities, the interval is wider than a bootstrap that treats each pair as independent.
    _, samples = bootstrap_differences(evaluation, "tar_at_far_1e-2", 300)["baseline"]
    pairs_as_units = Evaluation(evaluation.metrics, evaluation.scores, {},
                                groups=(np.arange(genuine.sum()), np.arange(genuine.sum(), genuine.size)))
    _, naive = bootstrap_differences(pairs_as_units, "tar_at_far_1e-2", 300)["baseline"]
    assert samples.std() > naive.std()


@pytest.mark.parametrize("refit", [True, False])
def test_train_with_separate_test_data_uses_every_training_identity(tmp_path, refit):
    from faceauth.tasks.fusion.synthetic import write_dataset

    write_dataset(tmp_path, synthetic.regime("balanced"), 24, 6, 4, seed=0)
    out = tmp_path / "m.pth"
    argv = ["fusion", "--embeddings", str(tmp_path / "train.parquet"), "--test-data", str(tmp_path / "test.parquet"),
            "--epochs", "1", "--output", str(out), "--log-dir", str(tmp_path / "logs"), "--batch-size", "16"]
    assert train_cli.main(argv + ([] if refit else ["--no-refit"])) == 0
    checkpoint = load_checkpoint(out)
    assert ("refit" in checkpoint["model_args"]) == refit
    if refit:  # no test split was carved out: train + val are all 24 training identities
        assert checkpoint["model_args"]["refit"]["identities"] == 24
    results = json.loads((tmp_path / "m.metrics.json").read_text())
    assert results["test_data"]["identities"] == 6 and results["test_data"]["data"].endswith("test.parquet")
    assert results["test_data"]["model_fitted_on"].startswith("training + validation" if refit else "training identities")


def test_fusion_kinds_without_training_report_epoch_zero_only(tmp_path, small_fusion):
    for kind in ("score_average", "linear"):
        out = tmp_path / f"{kind}.pth"
        assert train_cli.main(["fusion", "--synthetic", "--fusion-kind", kind, "--num-identities", "30", "--samples-per-id", "6",
                               "--output", str(out), "--log-dir", str(tmp_path / "logs")]) == 0
        checkpoint = load_checkpoint(out)
        assert checkpoint["epoch"] == 0 and checkpoint["model_args"]["hidden_sizes"] == []
        if kind == "score_average":
            results = json.loads((tmp_path / f"{kind}.metrics.json").read_text())
            assert results["verdict"]["baselines"]["score_average"]["difference"] == pytest.approx(0, abs=1e-6)
