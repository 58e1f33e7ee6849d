"""The `faceauth` command and its help, at every level, as a user types them."""

import os
import stat
import subprocess
import sys

import pytest

from faceauth.commands import main as command
from faceauth.io import formatting
from faceauth.tuning.dashboard import secure_token_file
from tests.run_readers import ROOT


@pytest.fixture(autouse=True)
def module_prefix():
    yield
    formatting.set_command_prefix("python -m faceauth.")  # command.main names the commands `faceauth ...`


def help_of(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        command.main(list(argv))
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_faceauth_help_lists_every_command(capsys):
    assert command.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in command.COMMANDS)
    assert "TASK --help" in out
    assert command.main([]) == 2  # no command: the same text, on stderr
    assert command.main(["tunee"]) == 2 and "unknown command 'tunee'" in capsys.readouterr().err


def test_every_command_has_help(capsys):
    for name in command.COMMANDS:
        assert f"usage: faceauth {name}" in help_of(capsys, name, "--help")


def test_train_help_without_a_task_names_the_tasks(capsys):
    text = help_of(capsys, "train", "--help")
    assert "faceauth train TASK --help (tasks: fusion, liveness, temporal)" in text
    assert "--epochs EPOCHS (default: 50)" in text  # the config class's default


@pytest.mark.parametrize("name", ["train", "tune"])
def test_a_task_s_help_shows_its_own_flags_with_defaults(capsys, name):
    text = help_of(capsys, name, "fusion", "--help")
    assert "--num_identities NUM_IDENTITIES, --num-identities NUM_IDENTITIES synthetic identities (default 200)" in text
    assert "--margin MARGIN the loss's margin (default 0.5)" in text and "fusion task's own" in text


def test_module_forms_still_work_and_errors_are_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "faceauth.tune", "fusion", "--search-space", "no/such.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: search space no/such.yaml does not exist; pass a YAML file to --search-space"]
    result = subprocess.run([sys.executable, "-m", "faceauth", "train", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0 and "usage: python -m faceauth train" in result.stdout


def test_the_ray_token_file_is_made_private(tmp_path, monkeypatch):
    token = tmp_path / "auth_token"
    token.write_text("secret")
    token.chmod(0o644)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    assert secure_token_file() == token
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
