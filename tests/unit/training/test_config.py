from pathlib import Path

import pytest

from faceauth.workflows.config import resolve_config
from faceauth.training.config import build_config, load_config_file, select_task_values
from faceauth.io.errors import FaceauthError
from faceauth.tasks import get_task, list_tasks
from faceauth.tasks.fusion.config import FusionConfig

ROOT = Path(__file__).resolve().parents[3]


def test_unknown_key_names_the_key_and_suggests_the_right_one():
    with pytest.raises(FaceauthError, match=r"unknown key 'hiden_sizes' \(did you mean 'hidden_sizes'\?\)"):
        build_config(FusionConfig, {"hiden_sizes": [8]}, "my.yaml")


@pytest.mark.parametrize("key,value,expected", [
    ("epochs", "ten", "key 'epochs' must be an integer"),
    ("epochs", 2.5, "key 'epochs' must be an integer"),
    ("lr", True, "key 'lr' must be a number"),
    ("hidden_sizes", 512, "key 'hidden_sizes' must be a list"),
    ("hidden_sizes", [512, "x"], r"key 'hidden_sizes'\[1\] must be an integer"),
    ("loss", "focal", "key 'loss' must be one of 'contrastive', 'triplet', 'arcface'"),
    ("synthetic", "yes", "key 'synthetic' must be true or false"),
    ("augment_strength", 1.5, "'augment_strength' must lie in"),
    ("seed", -1, "'seed' must lie in 0..2"),
    ("data_seed", -1, "'data_seed' must lie in 0..2"),
    ("arcface_scale", 0.0, "'arcface_scale' must be positive"),
])
def test_wrong_types_and_values_name_the_key(key, value, expected):
    with pytest.raises(FaceauthError, match=expected):
        build_config(FusionConfig, {key: value}, "cfg")


def test_lists_become_tuples_and_ints_become_floats():
    config = build_config(FusionConfig, {"hidden_sizes": [64, 32], "lr": 1}, "cfg")
    assert config.hidden_sizes == (64, 32) and isinstance(config.lr, float)
    with pytest.raises(Exception):
        config.lr = 0.1  # frozen


def test_file_sections_and_flags_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 5\nlr: 0.01\nfusion:\n  epochs: 7\n")
    config = resolve_config(get_task("fusion"), str(path), {"lr": 0.5})
    assert config.epochs == 7  # the task's section overrides the common key
    assert config.lr == 0.5  # a flag overrides the file


def test_other_tasks_sections_are_ignored():
    raw = {"epochs": 5, "fusion": {"epochs": 7}, "liveness": {"image_size": 64}}
    assert select_task_values(raw, "fusion", ["fusion", "liveness"], "x.yaml") == {"epochs": 7}


def test_config_for_another_task_is_refused():
    with pytest.raises(FaceauthError, match="for task 'liveness', not 'fusion'"):
        select_task_values({"task": "liveness"}, "fusion", ["fusion", "liveness"], "x.yaml")


def test_bad_yaml_and_missing_file_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(FaceauthError, match="bad.yaml is not valid YAML"):
        load_config_file(bad)
    with pytest.raises(FaceauthError, match="nope.yaml does not exist"):
        load_config_file(tmp_path / "nope.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(FaceauthError, match="must hold a mapping"):
        load_config_file(listing)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.y*ml")), ids=lambda p: p.name)
def test_every_shipped_config_builds_for_every_task(path):
    raw = load_config_file(path)
    for task in list_tasks():
        values = select_task_values(raw, task, list_tasks(), str(path))
        build_config(get_task(task).config_cls, values, str(path))


def test_yaml_numbers_in_exponent_form_are_numbers(tmp_path):
    """`lr: 1e-3` is a number, as in YAML 1.2 and every other tool, not the string PyYAML makes of it."""
    path = tmp_path / "cfg.yaml"
    path.write_text("lr: 1e-3\nweight_decay: 5E-5\nmargin: 2.5e-1\ntag: 1e3x\n")
    assert load_config_file(path) == {"lr": 0.001, "weight_decay": 5e-05, "margin": 0.25, "tag": "1e3x"}


def test_a_key_given_twice_names_both_lines(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("fusion:\n  lr: 0.001\n  epochs: 2\n  lr: 0.5\n")
    with pytest.raises(FaceauthError, match=r"key 'lr' appears twice \(lines 2 and 4\)"):
        load_config_file(path)
