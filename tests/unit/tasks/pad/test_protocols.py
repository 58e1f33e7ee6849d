"""PAD protocols: folds on generated data, the metrics practitioners quote, the LBP baseline, and a
search on a protocol end to end."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from faceauth import evaluate as evaluate_cli
from faceauth import train as train_cli
from faceauth import tune as tune_cli
from faceauth.training.config import build_config
from faceauth.evaluation.metrics import pad_metrics
from faceauth.workflows.protocols import train_protocol
from faceauth.tasks.protocols import aggregate, builtin_protocol, load_protocol_file, materialise, scan_items
from faceauth.tasks import Evaluation, get_task
from faceauth.tasks.lbp_baseline import LOOKUP, colour_lbp_features, item_units, lbp_baseline, lbp_histograms
from faceauth.tasks.liveness.synthetic import SyntheticSpec, write_dataset
from faceauth.evaluation.verdict import metric_intervals

TINY = {"epochs": 1, "max_steps_per_epoch": 1, "image_size": 16, "synthetic_image_size": 16, "width": 4, "depth": 10,
        "batch_size": 8, "synthetic_per_class": 12}


# ------------------------------------------------------------------------------------------- metrics

def test_hter_and_apcer_per_attack_by_hand_with_scores_at_the_threshold():
    # Threshold 0.5; a score exactly at it is an attack: the attack 0.5 is caught, the bona fide 0.5 rejected.
    attack = np.array([0.9, 0.5, 0.2, 0.7])
    types = np.array(["print", "print", "replay", "replay"])
    bona_fide = np.array([0.1, 0.5, 0.3, 0.05])
    m = pad_metrics(attack, bona_fide, threshold=0.5, attack_types=types)
    assert m["apcer"] == 0.25 and m["bpcer"] == 0.25 and m["hter"] == 0.25 and m["acer"] == 0.25
    assert m["apcer_print"] == 0.0 and m["apcer_replay"] == 0.5 and m["apcer_worst"] == 0.5
    # All four attacks detected needs a threshold <= 0.2: bona fide 0.5 and 0.3 are rejected then.
    assert m["bpcer_at_apcer_5pct"] == 0.5 and m["bpcer_at_apcer_1pct"] == 0.5


def test_bpcer20_and_bpcer100_differ_by_hand():
    attack = np.array([0.9] * 19 + [0.1])  # missing the one at 0.1 is an APCER of exactly 5%
    bona_fide = np.array([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95])
    m = pad_metrics(attack, bona_fide, threshold=0.9)
    assert m["apcer"] == 0.05 and m["bpcer"] == 0.1  # the bona fide 0.95 is at or above 0.9
    assert m["bpcer_at_apcer_5pct"] == pytest.approx(0.1)  # threshold 0.9: only 0.95 rejected
    assert m["bpcer_at_apcer_1pct"] == pytest.approx(0.9)  # threshold 0.1: every bona fide above it rejected


def test_protocol_objectives_by_hand():
    eers = [0.1, 0.3, 0.2]
    assert aggregate(eers, "eer", "worst") == 0.3
    assert aggregate(eers, "eer", "mean") == pytest.approx(0.2)
    assert aggregate(eers, "eer", "mean_plus_std") == pytest.approx(0.2 + np.std(eers))
    assert aggregate([0.9, 0.7], "roc_auc", "worst") == 0.7  # higher is better: the worst is the lowest
    assert aggregate([0.9, 0.7], "roc_auc", "mean_plus_std") == pytest.approx(0.8 - 0.1)


def test_the_headline_verdict_is_the_worst_folds():
    from types import SimpleNamespace

    from faceauth.training.fit import Objective
    from faceauth.workflows.protocols import headline_verdict

    folds = {"A": {"test": {"eer": 0.1, "roc_auc": 0.9}, "verdict": {"summary": "a"}},
             "B": {"test": {"eer": 0.3, "roc_auc": 0.95}, "verdict": {"summary": "b"}},
             "C": {"test": {"eer": 0.2, "roc_auc": 0.7}}}  # no verdict (nothing to bootstrap): never the headline
    on_eer = headline_verdict(SimpleNamespace(objective=Objective("eer", "min")), {"folds": folds})
    assert on_eer["fold"] == "B" and on_eer["summary"].startswith("Fold 'B' (the model's worst test eer of 3 folds)")
    on_auc = headline_verdict(SimpleNamespace(objective=Objective("roc_auc", "max")), {"folds": folds})
    assert on_auc["fold"] == "A"
    assert headline_verdict(SimpleNamespace(objective=Objective("eer", "min")), {"folds": {"C": folds["C"]}}) is None


def test_bootstrap_resamples_videos_not_frames():
    rng = np.random.default_rng(0)
    attack, bona_fide = rng.uniform(0.3, 1, 12), rng.uniform(0, 0.7, 12)
    types = np.array(["print", "replay"] * 6)

    def evaluation(frames: int, by_video: bool) -> Evaluation:
        a, b = np.repeat(attack, frames), np.repeat(bona_fide, frames)
        units = np.arange(24) if by_video else np.arange(24 * frames)
        groups = (np.repeat(units[:12], frames), np.repeat(units[12:], frames)) if by_video else (units[:12 * frames], units[12 * frames:])
        return Evaluation({"m": pad_metrics(a, b, 0.5, np.repeat(types, frames))}, {"m": (a, b)}, groups=groups,
                          attack_types=np.repeat(types, frames))

    keys = ["hter", "bpcer_at_apcer_5pct", "apcer_print", "apcer_worst"]
    one = metric_intervals(evaluation(1, True), keys, resamples=200)["m"]
    ten_by_video = metric_intervals(evaluation(10, True), keys, resamples=200)["m"]
    ten_by_frame = metric_intervals(evaluation(10, False), keys, resamples=200)["m"]
    assert one == ten_by_video  # ten identical frames a video add no information
    assert ten_by_frame["hter"][1] - ten_by_frame["hter"][0] < one["hter"][1] - one["hter"][0]  # frames as units: too narrow
    value = pad_metrics(attack, bona_fide, 0.5, types)
    for key in keys:
        assert one[key][0] <= value[key] <= one[key][1]


# ---------------------------------------------------------------------------------------- LBP baseline

def test_uniform_lbp_has_59_bins_and_reads_texture():
    assert (LOOKUP < 58).sum() == 58 and LOOKUP.max() == 58
    flat = lbp_histograms(np.full((1, 8, 8), 3.0))
    assert flat.shape == (1, 59) and flat[0, LOOKUP[255]] == 1.0  # every neighbour >= the centre
    stripes = np.tile([0.0, 1.0], (8, 4))[None]  # vertical stripes: left and right neighbours differ
    assert lbp_histograms(stripes)[0, LOOKUP[255]] < 1.0
    images = np.random.default_rng(0).integers(0, 256, (3, 10, 10, 3), dtype=np.uint8)
    features = colour_lbp_features(images)
    assert features.shape == (3, 177) and np.allclose(features.reshape(3, 3, 59).sum(axis=2), 1.0)


def test_bootstrap_units_are_the_items_in_the_class_folders():
    units = item_units(["live/a.jpg", "live/subject1/f1.jpg", "live/subject1/f2.jpg", "spoof/print/b.jpg",
                        "spoof/print/video3/f1.jpg", "spoof/print/video3/f2.jpg", "spoof/c.jpg"])
    assert units[1] == units[2] and units[4] == units[5] and len(set(units)) == 5


def test_images_side_by_side_in_an_attack_type_folder_are_separate_units():
    units = item_units(["live/a.jpg", "spoof/print/b.jpg", "spoof/print/d.jpg", "spoof/print/video3/f1.jpg",
                        "spoof/c.jpg"])
    assert len(set(units)) == 5 and units[1] != units[2]


def test_lbp_baseline_is_fitted_on_the_training_side(monkeypatch):
    from faceauth.tasks.temporal import baselines

    fitted_on, fit = [], baselines.fit_logistic
    monkeypatch.setattr(baselines, "fit_logistic", lambda x, y, l2: fitted_on.append((x, y)) or fit(x, y, l2))
    rng = np.random.default_rng(0)
    attack = np.array([False, True] * 6)
    train_x, val_x, test_x = (rng.normal(size=(12, 3)) + attack[:, None] for _ in range(3))
    metrics, scores = lbp_baseline(train_x, attack, val_x, attack.copy(), test_x, attack.copy())
    assert fitted_on and all(x is train_x and y is attack for x, y in fitted_on)
    assert scores.shape == (12,) and "eer" in metrics


# -------------------------------------------------------------------------------------------- folds

@pytest.fixture(scope="module")
def domain_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocols")
    data = write_dataset(root / "data", SyntheticSpec(per_class=12, image_size=16, attack_types=4, domains=2), quiet=True)
    other = write_dataset(root / "other", SyntheticSpec(per_class=12, image_size=16, seed=5), quiet=True)
    return data, other, root


def _fold_items(fold_root, role):
    return sorted(p.relative_to(fold_root / role).as_posix() for p in (fold_root / role).glob("*/**/*") if p.is_symlink())


def test_every_builtin_protocol_cuts_folds_of_generated_data(domain_data):
    data, other, root = domain_data
    items = scan_items(data)
    assert {i.domain for i in items} == {"cam_a", "cam_b"}
    assert {i.attack_type for i in items if i.is_attack} == {"print", "replay", "mask", "cutout"}

    folds = materialise(builtin_protocol("leave-one-attack-out", items), items, root / "cache")
    assert [f.name for f in folds] == ["unseen_cutout", "unseen_mask", "unseen_print", "unseen_replay"]
    for fold in folds:
        held = fold.name.removeprefix("unseen_")
        assert set(fold.counts["test"]) == {"live", held}
        assert held not in fold.counts["train"] and held not in fold.counts["val"] and len(fold.counts["train"]) == 4
        assert {p.split("/")[0] for p in _fold_items(fold.root, "test")} == {"live", "spoof"}

    folds = materialise(builtin_protocol("leave-one-domain-out", items), items, root / "cache")
    assert [f.name for f in folds] == ["unseen_cam_a", "unseen_cam_b"]
    for fold in folds:
        held = fold.name.removeprefix("unseen_")
        assert all(p.split("/")[-1].startswith(f"{held}__test__") for p in _fold_items(fold.root, "test"))
        assert not any(held in p for p in _fold_items(fold.root, "train") + _fold_items(fold.root, "val"))

    (fold,) = materialise(builtin_protocol("standard", items), items, root / "cache")
    assert fold.counts["train"]["live"] == 24 and len(fold.counts["test"]) == 5

    (fold,) = materialise(builtin_protocol("cross-dataset", items, other), items, root / "cache", scan_items(other))
    assert fold.counts["test"] == {"live": 6, "mask": 2, "print": 2, "replay": 2}  # the other root's test/
    assert all(p.split("/")[-1].startswith("x__test__") for p in _fold_items(fold.root, "test"))


@pytest.mark.parametrize("protocol", ["standard", "leave-one-domain-out", "cross-dataset"])
def test_builtin_protocols_train_and_score_every_fold(domain_data, protocol):
    data, other, root = domain_data
    task = get_task("liveness")
    values = {**TINY, "data_root": str(data), "protocol": protocol, "cache_dir": str(root / "cache"),
              "output_dir": str(root / protocol), "log_dir": str(root / "logs")}
    if protocol == "cross-dataset":
        values["test_data_root"] = str(other)
    results = train_protocol(task, build_config(task.config_cls, values))
    expected = {"standard": ["standard"], "leave-one-domain-out": ["unseen_cam_a", "unseen_cam_b"],
                "cross-dataset": ["cross_dataset"]}[protocol]
    assert list(results["folds"]) == expected
    for fold in results["folds"].values():
        assert set(fold["test_baselines"]) == {"lbp_logreg"} and "hter" in fold["test"]
        low, high = fold["ci95"]["model"]["hter"]
        assert low <= fold["test"]["hter"] <= high
        assert fold["test"]["threshold"] == fold["val"]["threshold"]  # the threshold of the fold's val side
    worst = max(f["test"]["hter"] for f in results["folds"].values())
    assert results["aggregate"]["test"]["hter"] == worst


def test_custom_protocol_with_file_lists(domain_data, tmp_path):
    data, _, root = domain_data
    items = scan_items(data)
    lists = tmp_path / "lists"
    lists.mkdir()
    for role in ("train", "val", "test"):
        chosen = [i.relpath for i in items if i.domain == "cam_a" and i.split == role]
        (lists / f"{role}.txt").write_text("# cam_a only\n" + "\n".join(chosen) + "\n")
    path = tmp_path / "protocol.yaml"
    path.write_text("name: lists\nfolds:\n  - name: cam_a\n    train: {files: lists/train.txt}\n"
                    "    val: {files: lists/val.txt}\n    test: {files: lists/test.txt, attacks: [print]}\n")
    (fold,) = materialise(load_protocol_file(path), items, root / "cache")
    assert fold.counts["test"] == {"live": 6, "print": 2} and fold.counts["train"]["live"] == 12


@pytest.mark.parametrize("text, named", [
    ("folds:\n  - name: a\n    train: {atacks: [print]}\n    test: {}\n", "unknown key 'atacks' (did you mean 'attacks'?)"),
    ("folds:\n  - name: a\n    train: {}\n    test: {}\n    tset: {}\n", "unknown key 'tset'"),
    ("fold: []\n", "unknown key 'fold' (did you mean 'folds'?)"),
    ("folds:\n  - name: a\n    train: {splits: [training]}\n    test: {}\n", "folds[0].train.splits: 'training' is not a split"),
])
def test_a_bad_protocol_file_exits_2_naming_the_key(tmp_path, capsys, text, named):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code = train_cli.main(["liveness", "--synthetic", "--protocol", str(path), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and named in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_protocol_naming_an_attack_the_data_lacks_is_refused(domain_data, tmp_path):
    data, _, root = domain_data
    path = tmp_path / "p.yaml"
    path.write_text("folds:\n  - name: a\n    train: {attacks: [print]}\n    test: {attacks: [makeup]}\n")
    from faceauth.io.errors import FaceauthError

    with pytest.raises(FaceauthError, match="test.attacks names makeup, which the data does not have"):
        materialise(load_protocol_file(path), scan_items(data), root / "cache")


# ------------------------------------------------------------------------------------------- search

# Both run with the slow tests (about 20 s each), beside the OULU-NPU protocol search of test_pad_datasets.py:
# the fold runner's training and reports run in the default set through `faceauth train --protocol`.
@pytest.mark.slow
@pytest.mark.usefixtures("shared_ray")
@pytest.mark.parametrize("task", ["liveness", "temporal"])
def test_search_on_leave_one_attack_out_reports_folds_and_aggregate(tmp_path, task):
    extra = ["--synthetic-attack-types", "3", "--synthetic-per-class", "6"] if task == "temporal" else []
    code = tune_cli.main([task, "--smoke-test", "--no-dashboard", "--num-cpus", "2", "--name", "p", "--storage",
                          str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--log-dir", str(tmp_path / "logs"),
                          "--protocol", "leave-one-attack-out", *extra])
    assert code == 0
    run = tmp_path / "runs" / "p"
    metrics = json.loads((run / "best" / "metrics.json").read_text())
    folds = ["unseen_mask", "unseen_print", "unseen_replay"]
    assert metrics["protocol"] == "leave-one-attack-out" and sorted(metrics["folds"]) == folds
    assert metrics["test"]["eer"] == max(metrics["folds"][f]["test"]["eer"] for f in folds)  # worst, the default
    assert "lbp_logreg" in metrics["test_baselines"] and metrics["verdict"]["fold"] in folds
    assert all((run / "best" / "folds" / f / "model.pt").is_file() for f in folds)
    rows = pq.read_table(run / "trials.parquet").to_pylist()
    assert len(rows) == 2
    for row in rows:  # the aggregate the searcher saw is the worst fold's validation figure
        assert row["last_eer"] == max(row[f"last_fold_{f}_eer"] for f in folds)
    report = (run / "best" / "report.md").read_text()
    assert "| unseen_print | model |" in report and (run / "best" / "protocol_folds.png").is_file()

    out = tmp_path / "eval.json"
    assert evaluate_cli.main(["--model-path", str(run / "best" / "model.pt"), "--protocol", "leave-one-attack-out",
                              "--output-json", str(out)]) == 0
    evaluated = json.loads(out.read_text())["folds"]
    assert sorted(evaluated) == folds
    for fold in folds:  # each fold's test side holds the attack held out of its training and validation, and only it
        for system, metrics in evaluated[fold].items():
            per_attack = {k for k in metrics if k.startswith("apcer_") and k != "apcer_worst"}
            assert per_attack == {f"apcer_{fold.removeprefix('unseen_')}"}, (system, sorted(metrics))


def test_a_trial_builds_its_config_once_and_each_fold_once(domain_data, monkeypatch):
    """trial_loop, as a search trial runs it: one config for the trial, one per fold, none again in train_loop."""
    import faceauth.workflows.protocols as protocol_run
    import faceauth.tasks.base as base
    from faceauth.workflows.protocols import trial_loop
    from faceauth.training.session import LocalSession

    data, _, root = domain_data
    task = get_task("liveness")
    built = []
    real = base.build_config
    for module in (base, protocol_run):  # every place that builds a config from values
        monkeypatch.setattr(module, "build_config", lambda *a, **k: built.append(a[1].get("protocol")) or real(*a, **k))
    values = {**TINY, "data_root": str(data), "protocol": "leave-one-domain-out", "cache_dir": str(root / "cache"),
              "output_dir": str(root / "once"), "log_dir": str(root / "logs")}
    trial_loop(task, values, LocalSession())
    assert built == ["leave-one-domain-out", "standard", "standard"]  # the trial, then its two folds
    built.clear()
    trial_loop(task, {**TINY, "synthetic": True, "cache_dir": str(root / "cache"), "output_dir": str(root / "once"),
                      "log_dir": str(root / "logs")}, LocalSession())  # the task's own split: no folds
    assert built == [None]  # (no protocol key given)
