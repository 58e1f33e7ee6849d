"""The datasets workflow: a request checked where it is built (task, folder, option names and kinds),
the generator's defaults filled in, a regime's settings overridden only by the options given."""

from __future__ import annotations

import pytest

import faceauth
from faceauth.workflows.datasets import DatasetRequest, write_dataset


def test_a_request_fills_in_the_defaults_and_parses_strings(tmp_path):
    request = DatasetRequest("liveness", tmp_path / "d", {"per_class": "12"})
    assert request.options == {"difficulty": 0.5, "per_class": 12, "image_size": 64, "seed": 0}
    assert request.out_dir == str(tmp_path / "d")


@pytest.mark.parametrize("task, options, message", [
    ("liveness", {"per_klass": 3}, "liveness data has no option per_klass; its options: difficulty, per_class"),
    ("fusion", {"identities": 2.5}, "option identities: 2.5 is not an integer"),
    ("fusion", {"identities": True}, "option identities: True is not an integer"),
    ("fusion", {"regime": "nope"}, "option regime: 'nope' is not one of default"),
    ("liveness", {"difficulty": "hard"}, "option difficulty: 'hard' is not a number"),
    ("faces", {}, "faces"),
])
def test_a_bad_request_is_refused_before_anything_is_written(tmp_path, task, options, message):
    with pytest.raises(faceauth.FaceauthError, match=message):
        DatasetRequest(task, tmp_path / "d", options)
    assert not (tmp_path / "d").exists()


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "d").write_text("keep")
    with pytest.raises(faceauth.FaceauthError, match="is a file, not a folder"):
        faceauth.datasets("fusion", tmp_path / "d")
    assert (tmp_path / "d").read_text() == "keep"


def test_fusion_data_from_python(tmp_path):
    written = faceauth.datasets("fusion", tmp_path / "f", identities=6, test_identities=2, images=2)
    assert written == [tmp_path / "f" / "train.parquet", tmp_path / "f" / "test.parquet"]
    assert all(path.is_file() for path in written)


def test_a_regime_keeps_its_settings_unless_an_option_overrides_them(tmp_path):
    result = write_dataset(DatasetRequest("temporal", tmp_path / "t", {"regime": "faint_small", "per_class": 4,
                                                                       "frames": 8, "size": 32}))
    readme = (result.out_dir / "README.txt").read_text()
    assert "8 frames of\n    32x32 px" in readme  # the options given
    assert "difficulty 0.8, static cue 0.08, 1 blinks per" in readme  # the regime's, as nothing overrode them
