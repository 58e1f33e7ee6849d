"""The closed-form linear fusion and training against separate test data (the verdict: test_verdict.py)."""

import json

import numpy as np
import pytest
import torch

from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.evaluation.metrics import verification_metrics
from faceauth.tasks.fusion import linear, synthetic
from faceauth.tasks.fusion.data import split_by_identity, verification_pairs
from faceauth.tasks.fusion.model import FusionModel
from faceauth.tasks.fusion.data import normalized_concat
from faceauth.tasks.fusion.model import pair_scores


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


def anisotropic(classes, per_class=200, scales=(0.5, 1.0, 3.0, 8.0), seed=0):
    """Classes with spread-out means and a within-class spread that differs per axis."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    means = rng.standard_normal((classes, len(scales))) * 2.0
    return means[labels] + rng.standard_normal((len(labels), len(scales))) * np.asarray(scales), labels


def within_class_covariance(x, labels):
    """The pooled within-class covariance (divided by N - classes), computed here from scratch."""
    centred = np.concatenate([x[labels == c] - x[labels == c].mean(axis=0) for c in np.unique(labels)])
    return centred.T @ centred / (len(x) - len(np.unique(labels)))


def test_whitening_without_shrinkage_whitens_and_full_shrinkage_scales_every_direction_alike():
    x, labels = anisotropic(2)
    stats = linear.ScatterStats(x, labels)
    assert np.allclose(within_class_covariance(x @ stats.whitening(0.0), labels), np.eye(4), atol=1e-8)
    # Shrinkage 1: every eigenvalue replaced by their mean, so a rotation scaled by one factor.
    full = stats.whitening(1.0)
    mean_variance = np.trace(within_class_covariance(x, labels)) / 4
    assert np.allclose(np.linalg.norm(full, axis=0), 1 / np.sqrt(mean_variance))


def test_lda_weights_each_direction_by_its_between_class_share():
    """Projected training data: within-class covariance diag(b / (1 + b)), b the between-class
    variances of the whitened data (eigenvalues of its count-weighted class-mean scatter)."""
    x, labels = anisotropic(3)
    stats = linear.ScatterStats(x, labels)
    z = (x - x.mean(axis=0)) @ stats.whitening(0.0)
    means = np.stack([z[labels == c].mean(axis=0) for c in range(3)])
    shares = np.bincount(labels) / len(labels)
    between = np.sort(np.linalg.eigvalsh((means * shares[:, None]).T @ means))[::-1][:2]
    fusion = stats.fit("lda", 0.0, 64)
    assert fusion.out_dim == 2
    projected = within_class_covariance(fusion.apply(x).astype(np.float64), labels)
    assert np.allclose(projected, np.diag(between / (1 + between)), atol=1e-4)
    assert not np.allclose(np.diag(projected), 1.0, atol=0.05)


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
