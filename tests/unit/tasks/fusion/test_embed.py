"""Face images into the fusion trainer: three small ONNX embedders of different architectures built
here (torch -> ONNX, random weights), folders of real PNG/JPEG files, the real onnxruntime."""

import os
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from faceauth import embed as embed_cli
from faceauth import evaluate as evaluate_cli
from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.evaluation.onnx_export import export_onnx
from faceauth.tasks.fusion.data import read_embeddings_parquet
from faceauth.tasks.fusion.embedders import parse_embedders
from faceauth.tasks.fusion.image_embeddings import EmbedderCache, embed_directory
from faceauth.tasks.fusion.images import ImageFile

NAMES = ("arcface", "facenet", "mobilefacenet")


class ArcFaceLike(nn.Module):
    """ResNet-stem style: conv-BN-PReLU twice, global average pool, linear + BN; 112x112 NCHW -> 32."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.PReLU(8),
                                      nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.PReLU(16))
        self.head = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32))

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class FaceNetLike(nn.Module):
    """Channels-last input (as TensorFlow exports), conv + max-pool, L2-normalised; 160x160 NHWC -> 16."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 5, 4, 2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, 1, 1), nn.ReLU())
        self.head = nn.Linear(16, 16)

    def forward(self, x):
        x = self.features(x.permute(0, 3, 1, 2))
        return nn.functional.normalize(self.head(x.amax(dim=(2, 3))), dim=1)


class MobileFaceNetLike(nn.Module):
    """Depthwise-separable blocks with ReLU6, expects BGR; 96x96 NCHW -> 24."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU6(), nn.Conv2d(8, 8, 3, 2, 1, groups=8),
                                      nn.Conv2d(8, 24, 1), nn.ReLU6())
        self.head = nn.Linear(24, 24)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


# name -> (module, example input shape, extra flag settings, (channel order, mean, std, channels last))
ARCHITECTURES = {
    "arcface": (ArcFaceLike, (2, 3, 112, 112), "", ("rgb", 127.5, 127.5, False)),
    "facenet": (FaceNetLike, (2, 160, 160, 3), "", ("rgb", 127.5, 128.0, True)),
    "mobilefacenet": (MobileFaceNetLike, (2, 3, 96, 96), ",channel_order=bgr", ("bgr", 127.5, 128.0, False)),
}
DIMS = {"arcface": 32, "facenet": 16, "mobilefacenet": 24}


def build_embedders(folder):
    """The three test embedders as ONNX files: {name: (path, torch module)}."""
    torch.manual_seed(0)
    built = {}
    for name, (cls, shape, _, _) in ARCHITECTURES.items():
        module = cls().eval()
        path = export_onnx(module, (torch.randn(*shape),), folder / f"{name}.onnx", ["image"], ["embedding"], {"image": {0: "batch"}})
        built[name] = (path, module)
    return built


def embedder_flags(paths):
    return [arg for name, path in paths.items() for arg in ("--embedder", f"{name}={path}{ARCHITECTURES[name][2]}")]


def write_faces(root, identities=10, per_identity=3, seed=0):
    """identities x per_identity face images of varied size, JPEG and PNG, one grey and one RGBA."""
    rng = np.random.default_rng(seed)
    for i in range(identities):
        base = rng.integers(0, 256, 3)
        for j in range(per_identity):
            height, width = rng.integers(40, 90, 2)
            pixels = np.clip(base + rng.normal(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            index = i * per_identity + j
            image = image.convert("L") if index == 1 else image.convert("RGBA") if index == 2 else image
            (root / f"p{i:02d}").mkdir(parents=True, exist_ok=True)
            image.save(root / f"p{i:02d}" / f"img{j}.{'jpg' if index % 2 else 'png'}")
    return root


def write_linear_onnx(path):
    """An ONNX model that is no image model: a (batch, 64) input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((64, 8), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def perturb_onnx(path):
    """Rewrite the model's first weight: a new model file at the same path."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    weight = model.graph.initializer[0]
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.5 + 0.01, weight.name))
    onnx.save(model, path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_embedders(tmp_path_factory.mktemp("models"))


@pytest.fixture
def model_paths(models, tmp_path):
    """Copies of the models that a test may replace."""
    folder = tmp_path / "models"
    folder.mkdir()
    paths = {}
    for name, (path, _) in models.items():
        paths[name] = folder / path.name
        paths[name].write_bytes(path.read_bytes())
    return paths


def specs(paths):
    return parse_embedders([f"{name}={path}{ARCHITECTURES[name][2]}" for name, path in paths.items()])


def test_train_fusion_from_face_images_end_to_end(tmp_path, model_paths, capsys):
    faces = write_faces(tmp_path / "faces")
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"epochs": 2, "batch_size": 8, "fusion": {"hidden_sizes": [16], "out_dim": 16}}))
    output = tmp_path / "fusion.pth"
    assert train_cli.main(["fusion", "--data_dir", str(faces), *embedder_flags(model_paths), "--config", str(config),
                           "--output", str(output), "--log-dir", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    assert "embeddings of 30 images" in out and "arcface 32-d (30 computed)" in out and "best epoch" in out
    checkpoint = load_checkpoint(output)
    assert checkpoint["model_args"]["input_dims"] == [32, 16, 24] and checkpoint["model_args"]["in_dim"] == 72
    assert checkpoint["model_args"]["model_names"] == list(NAMES)
    assert len(list((faces / ".faceauth-cache").glob("*.parquet"))) == 3
    # A model trained on files: evaluate does not follow the paths its checkpoint names.
    assert evaluate_cli.main(["--model-path", str(output), "--output-json", str(tmp_path / "eval.json")]) == 2
    assert "data_dir" in capsys.readouterr().err
    assert evaluate_cli.main(["--model-path", str(output), "--test-data", str(faces), "--output-json",
                              str(tmp_path / "eval.json")]) == 0


def test_embed_cli_config_mapping_matches_the_documented_preprocessing(tmp_path, models, capsys):
    """The config-file form; each row equals the torch model on the image prepared by hand."""
    faces = write_faces(tmp_path / "faces", identities=3)
    means = {"arcface": [122.5, 127.5, 132.5], "facenet": [110.0, 127.5, 140.0], "mobilefacenet": 127.5}  # per channel, or one
    entries = [{"name": name, "path": str(path), "channel_order": ARCHITECTURES[name][3][0], "mean": means[name]}
               for name, (path, _) in models.items()]
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"fusion": {"data_dir": str(faces), "embedders": entries, "cache_dir": str(tmp_path / "cache")}}))
    output = tmp_path / "e.parquet"
    assert embed_cli.main(["--config", str(config), "--output", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "cache").is_dir()
    data = read_embeddings_parquet(output, "identity", NAMES)
    assert data.model_dims == (32, 16, 24) and len(data) == 9
    table = pq.read_table(output)
    for row in (0, 1, 2):  # RGB, grey and RGBA files
        image = Image.open(faces / table.column("path")[row].as_py()).convert("RGB")
        for name, (_, module) in models.items():
            order, _, std, channels_last = ARCHITECTURES[name][3]
            size = ARCHITECTURES[name][1][1:3] if channels_last else ARCHITECTURES[name][1][2:]
            x = np.asarray(image.resize(size[::-1], Image.Resampling.BILINEAR), np.float32)
            x = (x[..., ::-1] if order == "bgr" else x) - np.asarray(means[name], np.float32)
            x = torch.from_numpy(np.ascontiguousarray(x / std))[None]
            expected = module(x if channels_last else x.permute(0, 3, 1, 2)).detach().numpy()[0]
            assert np.allclose(table.column(name)[row].as_py(), expected, atol=1e-4), name


def test_cache_recomputes_only_what_changed(tmp_path, model_paths):
    faces = write_faces(tmp_path / "faces")
    log = []
    first = embed_directory(faces, specs(model_paths), log=log.append)
    assert first.computed == {name: 30 for name in NAMES}
    assert any("embedded 30/30 images" in line for line in log)  # the progress counter

    again = embed_directory(faces, specs(model_paths), log=log.append)
    assert again.computed == {name: 0 for name in NAMES}
    assert all(np.array_equal(first.arrays[n], again.arrays[n]) for n in NAMES)

    changed = faces / "p03" / "img0.jpg"
    Image.fromarray(np.full((50, 60, 3), 200, np.uint8)).save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = embed_directory(faces, specs(model_paths), log=log.append)
    assert third.computed == {name: 1 for name in NAMES}
    row = [f.path for f in third.files].index("p03/img0.jpg")
    keep = np.arange(30) != row
    assert all(np.array_equal(first.arrays[n][keep], third.arrays[n][keep]) for n in NAMES)
    assert not np.allclose(first.arrays["arcface"][row], third.arrays["arcface"][row])

    perturb_onnx(model_paths["facenet"])
    fourth = embed_directory(faces, specs(model_paths), log=log.append)
    assert fourth.computed == {"arcface": 0, "facenet": 30, "mobilefacenet": 0}
    assert not np.allclose(third.arrays["facenet"], fourth.arrays["facenet"])


def test_unreadable_images_are_all_listed_or_skipped(tmp_path, model_paths, capsys):
    faces = write_faces(tmp_path / "faces")
    (faces / "p00" / "broken.jpg").write_bytes(b"not a jpeg")
    (faces / "p01" / "truncated.png").write_bytes((faces / "p01" / "img1.png").read_bytes()[:60])
    argv = [str(faces), *embedder_flags(model_paths), "--output", str(tmp_path / "e.parquet")]
    assert embed_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "2 unreadable images" in err and "p00/broken.jpg" in err and "p01/truncated.png" in err and "--skip-corrupt" in err

    assert embed_cli.main([*argv, "--skip-corrupt"]) == 0
    out = capsys.readouterr().out
    assert "2 skipped items" in out and "p00/broken.jpg" in out and "(0 computed)" in out  # the good ones were cached
    assert len(pq.read_table(tmp_path / "e.parquet")) == 30


def test_identity_with_one_image_is_named_or_skipped(tmp_path, model_paths, capsys):
    faces = write_faces(tmp_path / "faces")
    (faces / "lonely").mkdir()
    Image.new("RGB", (50, 50), "red").save(faces / "lonely" / "only.png")
    argv = ["fusion", "--data_dir", str(faces), *embedder_flags(model_paths), "--epochs", "1",
            "--output", str(tmp_path / "m.pth"), "--log-dir", str(tmp_path / "logs")]
    assert train_cli.main(argv) == 2
    assert "lonely/: only one image" in capsys.readouterr().err
    assert train_cli.main([*argv, "--skip-corrupt", "--batch-size", "8"]) == 0
    assert "lonely/: only one image" in capsys.readouterr().out


def test_unusable_models_are_all_listed(tmp_path, model_paths, capsys):
    faces = write_faces(tmp_path / "faces", identities=2)
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("these are not the weights you are looking for")
    argv = [str(faces), "--embedder", f"arcface={write_linear_onnx(tmp_path / 'linear.onnx')}",
            "--embedder", f"facenet={tmp_path / 'missing.onnx'}", "--embedder", f"mobilefacenet={not_onnx}"]
    assert embed_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "3 embedder problems" in err
    assert "embedder 'arcface'" in err and "rank 2" in err and "linear.onnx" in err
    assert "missing.onnx does not exist" in err and "notes.onnx): not a loadable ONNX model" in err

    assert embed_cli.main([str(faces), "--embedder", f"arcface={model_paths['arcface']},input_size=100"]) == 2
    assert "input_size [100, 100] does not match the model's fixed input [112, 112]" in capsys.readouterr().err


def test_config_errors_name_the_key(tmp_path, model_paths, capsys):
    faces = write_faces(tmp_path / "faces", identities=2)
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"fusion": {"embedders": [{"name": "arcface", "path": "a.onnx", "inptu_size": 112}]}}))
    assert train_cli.main(["fusion", "--data_dir", str(faces), "--config", str(config)]) == 2
    assert "embedders[0] (arcface): unknown key 'inptu_size' (did you mean 'input_size'?)" in capsys.readouterr().err
    assert train_cli.main(["fusion", "--data_dir", str(faces), "--embedder", "adaface=a.onnx"]) == 2
    assert "'adaface' is not a known family" in capsys.readouterr().err
    assert train_cli.main(["fusion", "--data_dir", str(faces)]) == 2
    assert "'data_dir' needs embedders" in capsys.readouterr().err
    assert train_cli.main(["fusion", "--embedder", "arcface"]) == 2
    assert "must be NAME=MODEL.onnx" in capsys.readouterr().err
    flags = ["--data_dir", str(faces), "--embedder", f"arcface={model_paths['arcface']}"]
    assert train_cli.main(["fusion", "--synthetic", *flags]) == 2
    assert "--synthetic and --data_dir were given" in capsys.readouterr().err


def test_two_folders_alike_in_layout_sizes_and_times_do_not_share_cached_rows(tmp_path, models):
    """Same names, same file sizes (PNG of the same shape, uncompressed), same mtimes, other pixels,
    one cache folder: the second folder's embeddings are its own."""
    cache = tmp_path / "cache"
    one_spec = specs({"arcface": models["arcface"][0]})
    embeddings = []
    for seed, name in ((0, "a"), (1, "b")):
        root = tmp_path / name
        for i in range(3):
            for j in range(2):
                path = root / f"p{i}" / f"img{j}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = np.random.default_rng([seed, i, j]).integers(0, 256, (48, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(path, compress_level=0)
                os.utime(path, ns=(10**18, 10**18))
        embeddings.append(embed_directory(root, one_spec, str(cache), log=lambda _: None).arrays["arcface"])
    assert not np.allclose(embeddings[0], embeddings[1])


def test_cache_key_covers_every_preprocessing_setting():
    """Each setting that changes the embeddings changes the key, so no cached row is served across it."""
    spec = parse_embedders(["arcface=model.onnx"])[0]
    changed = {"channel_order": "bgr", "mean": (127.5, 127.5, 0.0), "std": (1.0, 1.0, 1.0),
               "input_size": (96, 96), "default_size": (96, 96)}
    assert spec.cache_key("x") == replace(spec).cache_key("x") != spec.cache_key("y")
    for field, value in changed.items():
        assert replace(spec, **{field: value}).cache_key("x") != spec.cache_key("x"), field


def test_a_cached_row_is_reused_only_while_size_and_mtime_are_unchanged(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"model bytes")
    cache = EmbedderCache(tmp_path, parse_embedders([f"arcface={model}"])[0], tmp_path)
    vector = np.arange(4, dtype=np.float32)
    cache.put(ImageFile("p0", "p0/a.jpg", size=10, mtime_ns=1), vector)
    assert np.array_equal(cache.get(ImageFile("p0", "p0/a.jpg", size=10, mtime_ns=1)), vector)
    assert cache.get(ImageFile("p0", "p0/a.jpg", size=10, mtime_ns=2)) is None  # touched or rewritten
    assert cache.get(ImageFile("p0", "p0/a.jpg", size=11, mtime_ns=1)) is None
