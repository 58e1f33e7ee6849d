"""The README's Python example runs as printed."""

import functools
import textwrap

import pytest
import ray

from tests.run_readers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.own_ray]  # a four-trial search and a five-epoch training run


def readme_block(heading: str) -> str:
    """The first indented block after `heading`, up to the next unindented paragraph."""
    lines = (ROOT / "README.md").read_text().split(heading, 1)[1].splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("    "))
    block = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_the_python_example_runs(tmp_path, monkeypatch):
    code = readme_block("## From Python: notebooks and pipelines")
    assert "faceauth.search(" in code and "faceauth.evaluate(" in code
    monkeypatch.chdir(tmp_path)  # runs/, logs/ and weights/ of the example land here
    # The one change: never join another test's `ray start` cluster on this machine.
    monkeypatch.setattr(ray, "init", functools.partial(ray.init, address="local"))
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        ray.shutdown()
    assert len(list((tmp_path / "runs").glob("fusion-*/best/model.onnx"))) == 1
    assert (tmp_path / "weights" / "fusion.eval.json").is_file()
