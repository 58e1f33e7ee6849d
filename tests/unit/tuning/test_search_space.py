"""Search-space files are validated before Ray starts; every error names the file and the key."""

from pathlib import Path

import pytest
import yaml

from faceauth.io.errors import FaceauthError
from faceauth.tuning.space import SEARCH_SPACES_DIR, load_search_space
from faceauth.tasks import get_task, list_tasks

GOOD = {"metric": "tar_at_far_1e-3", "mode": "max",
        "parameters": {"lr": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}


def load(tmp_path, content, task="fusion"):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(content) if isinstance(content, dict) else content)
    t = get_task(task)
    return load_search_space(path, t.config_cls, t.metric_names)


def with_param(name, spec):
    return {**GOOD, "parameters": {name: spec}}


@pytest.mark.parametrize("content,message", [
    (with_param("learning_rate", {"type": "float", "low": 0, "high": 1}),
     "parameter 'learning_rate' is not a field of FusionConfig"),
    (with_param("dropout", {"type": "float", "low": 0.5, "high": 0.1}), r"parameter 'dropout': low \(0.5\) is greater than high"),
    (with_param("lr", {"type": "log_float", "low": 0, "high": 0.1}), "parameter 'lr': a log range must lie above 0"),
    (with_param("loss", {"type": "categorical", "choices": []}), "parameter 'loss': 'choices' must be a non-empty list"),
    (with_param("loss", {"type": "categorical", "choices": ["contrastive", "focal"]}), "must be one of"),
    (with_param("lr", {"type": "normal", "low": 0, "high": 1}), "type must be one of"),
    (with_param("lr", {"type": "float", "low": 0.1, "high": 1, "default": 2}), "default 2.0 lies outside"),
    (with_param("lr", {"type": "float", "low": 0.1, "high": 1, "choices": [1]}), "do not apply to type float"),
    (with_param("epochs", {"type": "float", "low": 1, "high": 3.5}), "must be an integer"),
    ({**GOOD, "metric": "tar@far"}, "metric 'tar@far' is not one the task reports"),
    ({**GOOD, "mode": "maximise"}, "mode must be 'max' or 'min'"),
    ({**GOOD, "fixed": {"epoch": 3}}, "unknown key 'epoch'"),
    ({**GOOD, "paramters": {}}, "unknown top-level key"),
    ("metric: [unclosed", "is not valid YAML"),
])
def test_bad_search_spaces_name_file_and_key(tmp_path, content, message):
    with pytest.raises(FaceauthError, match=message) as err:
        load(tmp_path, content)
    assert "space.yaml" in str(err.value)


def test_list_choices_round_trip_through_the_searcher_encoding(tmp_path):
    space = load(tmp_path, with_param("hidden_sizes", {"type": "categorical", "choices": [[64], [128, 64]], "default": [128, 64]}))
    assert space.defaults() == {"hidden_sizes": "[128, 64]"}
    assert space.decode({"hidden_sizes": "[128, 64]", "seed": 1}) == {"hidden_sizes": [128, 64], "seed": 1}


def test_default_falls_back_to_the_config_default_when_in_range(tmp_path):
    space = load(tmp_path, with_param("dropout", {"type": "float", "low": 0.0, "high": 0.5}))
    assert space.parameters["dropout"].default == 0.1
    space = load(tmp_path, with_param("dropout", {"type": "float", "low": 0.2, "high": 0.5}))
    assert space.parameters["dropout"].default is None


def test_also_evaluate_points_change_only_their_own_keys_of_the_defaults(tmp_path):
    space = load(tmp_path, {**with_param("lr", {"type": "log_float", "low": 1e-4, "high": 1e-2, "default": 1e-3}),
                            "also_evaluate": [{"lr": 5e-3}]})
    assert space.points_to_evaluate() == [{"lr": 1e-3}, {"lr": 5e-3}]


def test_a_default_at_the_upper_end_of_its_range_is_accepted(tmp_path):
    space = load(tmp_path, with_param("dropout", {"type": "float", "low": 0.0, "high": 0.5, "default": 0.5}))
    assert space.parameters["dropout"].default == 0.5


@pytest.mark.parametrize("task", list_tasks())
def test_shipped_search_spaces_load(task):
    t = get_task(task)
    space = load_search_space(SEARCH_SPACES_DIR / f"{task}.yaml", t.config_cls, t.metric_names)
    assert space.metric in t.metric_names and space.optuna_distributions()


def test_every_shipped_search_space_has_a_task():
    assert {p.stem for p in Path(SEARCH_SPACES_DIR).glob("*.yaml")} <= set(list_tasks())


def test_concurrency_follows_cpus_and_gpus():
    from faceauth.tuning.runner import SearchOptions, plan_concurrency

    gpu_nodes = [{"CPU": 48, "GPU": 4}] * 4 + [{"CPU": 8}]
    total = {"CPU": 200, "GPU": 16}
    ddp = SearchOptions(task="fusion", trials=100, workers_per_trial=2, gpus_per_worker=1)
    assert plan_concurrency(ddp, total, gpu_nodes) == 8  # GPUs, not CPUs, bound it
    single = SearchOptions(task="fusion", trials=100)
    assert plan_concurrency(single, {"CPU": 2}, [{"CPU": 2}]) == 2
    assert plan_concurrency(SearchOptions(task="fusion", trials=1), {"CPU": 2}, [{"CPU": 2}]) == 1
    assert plan_concurrency(SearchOptions(task="fusion", trials=100, max_concurrent=3), {"CPU": 16}, [{"CPU": 16}]) == 3
    halves = SearchOptions(task="fusion", trials=100, cpus_per_worker=0.5)
    assert plan_concurrency(halves, {"CPU": 2}, [{"CPU": 2}]) == 4


def test_a_trial_no_node_could_place_is_refused_saying_why():
    from faceauth.tuning.runner import SearchOptions, unmet_resources

    nodes = [{"CPU": 8, "GPU": 1}, {"CPU": 4}]
    total = {"CPU": 12, "GPU": 1}
    fits = SearchOptions(task="fusion", trials=4, cpus_per_worker=8)
    assert unmet_resources(fits, total, nodes) is None
    # 10 CPUs exist in the cluster, but no single node has them: a worker is placed on one node.
    assert "more than any node has (largest: 8 CPUs)" in unmet_resources(
        SearchOptions(task="fusion", trials=4, cpus_per_worker=10), total, nodes)
    assert "more than any node has (largest: 1 GPUs)" in unmet_resources(
        SearchOptions(task="fusion", trials=4, gpus_per_worker=2), total, nodes)
    assert "the Ray cluster has none" in unmet_resources(SearchOptions(task="fusion", trials=4, gpus_per_worker=1),
                                                         {"CPU": 12}, [{"CPU": 12}])
    # Each worker fits a node, but the trial's 3 workers x 1 GPU exceed the cluster's one GPU.
    assert "one trial needs 3 workers x 1 CPU x 1 GPU" in unmet_resources(
        SearchOptions(task="fusion", trials=4, workers_per_trial=3, gpus_per_worker=1), total, nodes)
