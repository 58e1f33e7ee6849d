"""The search's typed request and what it decides before Ray starts: the tune command's flags are made
from the request's fields (one set of defaults), keywords are checked against the fields' types, the
libraries' own INFO lines are hidden unless asked for, and a cluster join sends the token it has."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pytest

import faceauth
from faceauth import tune as tune_cli
from faceauth.api import keyword_value
from faceauth.tuning.dashboard import token_for_cluster
from faceauth.tuning.search import SearchRequest, quiet_libraries


def test_the_command_parses_into_the_request_with_its_defaults():
    request, flags = tune_cli.parse_args(["fusion"])
    assert request == SearchRequest(task="fusion") and flags == {}
    request, flags = tune_cli.parse_args(["fusion", "--trials", "7", "--objective", "eer:min", "--objective", "accuracy:max",
                                          "--no-dashboard", "--mlflow", "--epochs", "3", "--verbose"])
    assert (request.trials, request.objective, request.no_dashboard, request.mlflow, request.verbose) == (
        7, ("eer:min", "accuracy:max"), True, "mlruns", True)
    assert flags == {"epochs": 3}
    every_flag = {a.dest for a in tune_cli.build_parser("fusion")[0]._actions}
    assert {f.name for f in dataclasses.fields(SearchRequest)} - every_flag == {"config_file"}  # --config: the training group's


def test_keywords_are_checked_against_the_fields_types():
    from typing import get_type_hints

    hints = get_type_hints(SearchRequest)
    assert keyword_value("trials", "12", hints["trials"]) == 12 and keyword_value("lr", 1, float) == 1.0
    assert keyword_value("storage", Path("runs"), hints["storage"]) == "runs"
    for key, value, message in (("trials", 2.5, "keyword trials: 2.5 is not an integer"),
                                ("scheduler", "fifo", "keyword scheduler: 'fifo' is not one of asha, none"),
                                ("storage", 3, "keyword storage: 3 is of type int, not a string"),
                                ("resume", "yes", "keyword resume: 'yes' is not True or False")):
        with pytest.raises(faceauth.FaceauthError, match=message):
            keyword_value(key, value, hints[key])


def test_library_info_lines_only_with_verbose():
    import optuna

    quiet_libraries(False)
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    assert logging.getLogger("ray.tune").getEffectiveLevel() == logging.WARNING
    quiet_libraries(True)
    assert optuna.logging.get_verbosity() == optuna.logging.INFO
    assert logging.getLogger("ray.tune").getEffectiveLevel() == logging.INFO
    quiet_libraries(False)


def test_a_refused_join_names_the_token_file_the_mode_and_how_to_get_the_token(tmp_path, monkeypatch):
    token = tmp_path / "auth_token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    hint = token_for_cluster()
    assert f"{token} (missing)" in hint and "export RAY_AUTH_MODE=token (it is not set)" in hint
    assert "ray get-auth-token" in hint and "RAY_AUTH_MODE" not in os.environ  # never set behind the user's back
    token.write_text("secret")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    hint = token_for_cluster()
    assert f"token in {token}:" in hint and "(it is set to 'disabled')" in hint and "secret" not in hint
