"""Liveness data: layout checks, unreadable images, the decoded-image cache, augmentation (the model:
test_liveness_model.py)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceauth import datasets as datasets_cli
from faceauth.training.config import build_config
from faceauth.io.errors import FaceauthError
from faceauth.tasks.liveness.augment import augment, jpeg
from faceauth.tasks.liveness.config import LivenessConfig
from faceauth.tasks.liveness.data import DecodeOnAccess, load_folders, load_splits


def write_image(path: Path, seed: int, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def write_split(folder: Path, live: int = 2, attacks=("print", "replay"), per_attack: int = 2, seed: int = 0) -> None:
    for i in range(live):
        write_image(folder / "live" / f"{i}.jpg", seed * 100 + i)
    for t, attack in enumerate(attacks):
        for i in range(per_attack):
            write_image(folder / "spoof" / attack / f"{i}.png", seed * 100 + 50 + t * 10 + i)


def config(tmp_path: Path, root: Path, **extra) -> LivenessConfig:
    return build_config(LivenessConfig, {"data_root": str(root), "cache_dir": str(tmp_path / "cache"),
                                         "image_size": 16, **extra})


def test_every_layout_problem_is_named_at_once(tmp_path):
    root = tmp_path / "data"
    write_split(root / "train")
    (root / "val" / "live").mkdir(parents=True)  # empty class, and spoof/ missing
    (root / "val" / "live" / "notes.txt").write_text("not an image")
    (root / "test").write_text("a file where a split belongs")
    with pytest.raises(FaceauthError) as err:
        load_splits(config(tmp_path, root))
    message = str(err.value)
    for problem in (f"{root / 'val' / 'live'} holds no JPEG/PNG images", f"{root / 'val' / 'spoof'} is missing",
                    f"{root / 'test'} is a file, not a folder"):
        assert problem in message
    assert "expected data_root/{train,val,test}/{live,spoof}/" in message
    with pytest.raises(FaceauthError, match="does not exist"):
        load_splits(config(tmp_path, tmp_path / "nowhere"))


def test_unreadable_images_are_all_named_or_skipped_with_skip_corrupt(tmp_path, capsys, caplog):
    root = tmp_path / "data"
    for i, split in enumerate(("train", "val", "test")):
        write_split(root / split, seed=i)
    truncated = root / "train" / "live" / "9.jpg"
    truncated.write_bytes((root / "train" / "live" / "0.jpg").read_bytes()[:200])
    not_an_image = root / "val" / "spoof" / "print" / "x.png"
    not_an_image.write_text("hello")
    with pytest.raises(FaceauthError) as err:
        load_splits(config(tmp_path, root))
    assert "2 image(s) could not be read" in str(err.value) and "--skip-corrupt" in str(err.value)
    assert str(truncated) in str(err.value) and str(not_an_image) in str(err.value)

    splits = load_splits(config(tmp_path, root, skip_corrupt=True))  # from the cache built above
    assert splits["train"].cache_hit and len(splits["train"]) == 6 and len(splits["val"]) == 6
    assert set(splits["train"].skipped) | set(splits["val"].skipped) == {str(truncated), str(not_an_image)}
    assert str(truncated) in capsys.readouterr().err + caplog.text  # the terminal's handler, or the log records


def test_attack_types_come_from_spoof_subfolders(tmp_path):
    folder = tmp_path / "split"
    write_split(folder, attacks=("print", "Replay Attack"))
    write_image(folder / "spoof" / "loose.jpg", 99)
    split = load_folders({"test": folder}, config(tmp_path, tmp_path))["test"]
    assert split.type_counts() == {"print": 2, "replay_attack": 2, "unlabelled": 1}
    assert sorted(split.attack_type_labels()) == ["print", "print", "replay_attack", "replay_attack", "unlabelled"]
    assert split.is_attack.sum() == 5 and (~split.is_attack).sum() == 2


def test_cache_hit_and_invalidation_on_a_changed_file(tmp_path):
    folder = tmp_path / "split"
    write_split(folder)
    cfg = config(tmp_path, tmp_path)
    first = load_folders({"test": folder}, cfg)["test"]
    assert not first.cache_hit and isinstance(first.images, np.memmap) and first.images.shape == (6, 16, 16, 3)
    again = load_folders({"test": folder}, cfg)["test"]
    assert again.cache_hit and np.array_equal(np.asarray(again.images), np.asarray(first.images))

    changed = folder / "live" / "0.jpg"
    write_image(changed, seed=1234)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    rebuilt = load_folders({"test": folder}, cfg)["test"]
    assert not rebuilt.cache_hit and not np.array_equal(np.asarray(rebuilt.images[0]), np.asarray(first.images[0]))
    cached = sorted(p.name for p in (tmp_path / "cache" / "liveness").iterdir())
    assert len([n for n in cached if n.endswith(".npy")]) == 1  # the stale array was removed
    assert not [n for n in cached if ".tmp-" in n]  # nothing half-written left behind

    (tmp_path / "cache" / "liveness" / cached[[n.endswith(".json") for n in cached].index(True)]).unlink()
    assert not load_folders({"test": folder}, cfg)["test"].cache_hit  # no commit marker: rebuilt, never half-read

    uncached = load_folders({"test": folder}, config(tmp_path, tmp_path, cache=False))["test"]
    assert isinstance(uncached.images, DecodeOnAccess)
    assert np.array_equal(uncached.images[np.array([0, 5])], np.asarray(rebuilt.images)[[0, 5]])


def test_synthetic_dataset_command(tmp_path, capsys):
    out = tmp_path / "synthetic"
    assert datasets_cli.main(["liveness", str(out), "--per-class", "12", "--image-size", "32", "--difficulty", "0.2"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out and "SYNTHETIC DATA" in (out / "README.txt").read_text()
    assert {p.name for p in (out / "train" / "spoof").iterdir()} == {"print", "replay", "mask"}
    assert len(list((out / "train" / "live").iterdir())) == 12 and len(list((out / "val" / "live").iterdir())) == 6
    assert Image.open(next((out / "test" / "spoof" / "mask").iterdir())).size == (32, 32)
    assert datasets_cli.main(["liveness", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_augmentation_strength_zero_is_identity_and_shapes_are_kept():
    x = torch.rand(6, 3, 32, 32)
    assert augment(x, 0.0) is x
    for strength in (0.3, 1.0):
        y = augment(x, strength, torch.Generator().manual_seed(0))
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 and not torch.allclose(y, x)
    same = augment(x, 0.5, torch.Generator().manual_seed(1)), augment(x, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(*same)


def test_jpeg_approximation_matches_libjpeg_without_chroma_subsampling():
    import io

    image = np.asarray(Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8))
                       .resize((40, 40), Image.Resampling.BILINEAR))  # texture JPEG visibly distorts
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    for quality in (30, 80):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling=0)
        reference = torch.from_numpy(np.asarray(Image.open(buffer)).copy()).permute(2, 0, 1)[None].float() / 255
        ours = torch.round(jpeg(x, torch.tensor([float(quality)])).clamp(0, 1) * 255) / 255
        assert (ours - reference).abs().mean() < 0.3 * (reference - x).abs().mean()


def test_a_symlink_loop_in_an_image_folder_is_an_error_not_more_data(tmp_path):
    import os

    from faceauth.tasks.liveness.data import _images_under

    folder = tmp_path / "train" / "live" / "person"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"x")
    os.symlink(folder, folder / "again")  # person/again -> person: a loop
    with pytest.raises(FaceauthError, match="symlink loop"):
        _images_under(tmp_path / "train" / "live", tmp_path / "train")
    os.unlink(folder / "again")
    assert [e.relpath for e in _images_under(tmp_path / "train" / "live", tmp_path / "train")] == ["live/person/a.jpg"]


def test_a_test_folder_is_a_split_or_a_data_root(tmp_path):
    from faceauth.tasks.liveness.data import resolve_test_folder

    split = tmp_path / "split"
    for name in ("live", "spoof"):
        (split / name).mkdir(parents=True)
    assert resolve_test_folder(split) == split
    root = tmp_path / "root"
    (root / "test").mkdir(parents=True)
    (root / "live").mkdir()  # a stray class folder beside the splits does not make the root a split
    assert resolve_test_folder(root) == root / "test"
