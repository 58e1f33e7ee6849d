import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceauth.io.errors import FaceauthError
from faceauth.evaluation.metrics import verification_metrics
from faceauth.tasks.fusion.data import (identity_batches, merge, read_embeddings_parquet, split_by_identity,
                                        synthetic_embeddings, verification_pairs)
from faceauth.tasks.fusion.embedding_set import embedding_set
from faceauth.tasks.fusion.baselines import baseline_embeddings
from faceauth.tasks.fusion.model import pair_scores

COLUMNS = ("arcface", "facenet", "mobilefacenet")


def write_parquet(path, identities, dims=(8, 8, 8), seed=0, **overrides):
    rng = np.random.default_rng(seed)
    columns = {"identity": pa.array(identities)}
    for name, dim in zip(COLUMNS, dims):
        columns[name] = pa.array(list(rng.standard_normal((len(identities), dim)).astype(np.float32)),
                                 type=pa.list_(pa.float32()))
    columns.update(overrides)
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_round_trip_with_mixed_sizes(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", ["a", "a", "b", "b", "b"], dims=(8, 4, 6))
    data = read_embeddings_parquet(path, "identity", COLUMNS)
    assert data.embeddings.shape == (5, 18) and data.model_dims == (8, 4, 6)
    assert list(data.identities) == ["a", "b"] and list(data.labels) == [0, 0, 1, 1, 1]


def test_missing_column_names_file_and_column(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", ["a", "a"])
    with pytest.raises(FaceauthError, match=r"e.parquet: missing column\(s\) adaface"):
        read_embeddings_parquet(path, "identity", ("arcface", "adaface"))


def test_ragged_dimension_is_refused(tmp_path):
    ragged = pa.array([[1.0, 2.0], [1.0, 2.0, 3.0]], type=pa.list_(pa.float32()))
    path = write_parquet(tmp_path / "e.parquet", ["a", "a"], facenet=ragged)
    with pytest.raises(FaceauthError, match="column 'facenet' must hold one fixed-size"):
        read_embeddings_parquet(path, "identity", COLUMNS)


def test_nan_is_refused_with_its_row(tmp_path):
    bad = pa.array([[1.0, 2.0], [np.nan, 2.0]], type=pa.list_(pa.float32()))
    path = write_parquet(tmp_path / "e.parquet", ["a", "a"], arcface=bad)
    with pytest.raises(FaceauthError, match="column 'arcface' has NaN or inf in 1 row.*row 1"):
        read_embeddings_parquet(path, "identity", COLUMNS)


def test_identity_with_one_sample_is_refused(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", ["a", "a", "lonely"])
    with pytest.raises(FaceauthError, match="only one sample in column 'identity'.*lonely"):
        read_embeddings_parquet(path, "identity", COLUMNS)


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "e.parquet"
    path.write_text("hello")
    with pytest.raises(FaceauthError, match="not a readable Parquet file"):
        read_embeddings_parquet(path, "identity", COLUMNS)


def test_too_few_identities_for_the_splits():
    data = synthetic_embeddings(5, 3, 8)
    with pytest.raises(FaceauthError, match="5 identities are too few"):
        split_by_identity(data, 0.15, 0.15, seed=0)


def test_a_test_fraction_giving_under_two_test_identities_is_refused():
    """0.01 of 40 identities rounds to no test identity at all: refused, not a split without a test set."""
    data = synthetic_embeddings(40, 4, 8)
    with pytest.raises(FaceauthError, match="40 identities are too few.*0 test identities"):
        split_by_identity(data, 0.2, 0.01, 0)


def test_splits_are_identity_disjoint_and_seeded():
    data = synthetic_embeddings(40, 4, 8)
    a, b = split_by_identity(data, 0.2, 0.2, 1), split_by_identity(data, 0.2, 0.2, 1)
    names = {k: set(v.identities) for k, v in a.items()}
    assert not (names["train"] & names["val"] or names["train"] & names["test"] or names["val"] & names["test"])
    assert sum(len(v) for v in a.values()) == len(data)
    assert all(set(a[k].identities) == set(b[k].identities) for k in a)
    assert set(split_by_identity(data, 0.2, 0.2, 2)["test"].identities) != names["test"]


def test_identity_batches_cover_each_sample_once_with_genuine_partners():
    labels = np.repeat(np.arange(10), 7)
    batches = identity_batches(labels, batch_size=16, per_identity=4, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(batches)) == list(range(70))
    for batch in batches:
        _, counts = np.unique(labels[batch], return_counts=True)
        assert counts.min() >= 2


def test_identity_batches_hold_batch_size_over_per_identity_identities():
    """10 identities x 4 samples, K = 4: one chunk per identity, 16 // 4 = 4 identities a batch,
    so batches of 16, 16 and the 8 left over."""
    labels = np.repeat(np.arange(10), 4)
    batches = identity_batches(labels, batch_size=16, per_identity=4, rng=np.random.default_rng(0))
    assert [len(b) for b in batches] == [16, 16, 8]
    for batch in batches:
        _, counts = np.unique(labels[batch], return_counts=True)
        assert set(counts) == {4}


def test_merge_renumbers_the_second_sets_labels_after_the_first():
    rng = np.random.default_rng(0)

    def part(names):
        return embedding_set(np.asarray(names), {"arcface": rng.standard_normal((4, 3)).astype(np.float32)}, "part")

    first, second = part(["a", "a", "b", "b"]), part(["c", "c", "d", "d"])
    merged = merge(first, second)
    assert list(merged.labels) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len(np.unique(merged.labels)) == len(merged.identities) == 4
    assert list(merged.identities[merged.labels]) == ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert np.array_equal(merged.embeddings, np.concatenate([first.embeddings, second.embeddings]))


def test_verification_pairs_all_genuine_and_a_seeded_impostor_sample():
    labels = np.repeat(np.arange(30), 5)
    first, second, genuine = verification_pairs(labels, 1000, seed=3)
    assert genuine.sum() == 30 * 10 and (~genuine).sum() == 1000
    assert np.all(labels[first[genuine]] == labels[second[genuine]])
    assert np.all(labels[first[~genuine]] != labels[second[~genuine]])
    again = verification_pairs(labels, 1000, seed=3)
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1])


def test_pair_scores_agree_between_matrix_and_gather_paths():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((9000, 4)).astype(np.float32)
    first, second = rng.integers(0, 9000, 500), rng.integers(0, 9000, 500)
    gathered = pair_scores(e, first, second)
    small = pair_scores(e[:100], first % 100, second % 100)
    assert np.allclose(gathered, (e[first] * e[second]).sum(1), atol=1e-5)
    assert np.allclose(small, (e[first % 100] * e[second % 100]).sum(1), atol=1e-5)


def test_synthetic_data_is_not_a_toy_where_averaging_is_optimal():
    """Held-out identities of the default synthetic data: score averaging beats embedding averaging
    and the best single model, so fusion has a real baseline to beat."""
    data = split_by_identity(synthetic_embeddings(200, 20, 512, seed=0), 0.15, 0.15, 0)["test"]
    first, second, genuine = verification_pairs(data.labels, 100_000, 0)

    def tar(embeddings):
        s = pair_scores(embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True), first, second)
        return verification_metrics(s[genuine], s[~genuine])["tar_at_far_1e-3"]

    singles = [tar(p) for p in data.per_model()]
    baselines = {k: tar(v) for k, v in baseline_embeddings(data).items()}
    assert baselines["score_average"] > max(singles) > min(singles) + 0.1
    assert baselines["score_average"] > baselines["embedding_average"] + 0.05
    assert baselines["score_average"] < 0.95  # room left for a learned fusion
