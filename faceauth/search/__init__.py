"""The search: a search space from YAML, Ray Tune + Optuna (TPE) + ASHA, the best trial evaluated and exported."""

from faceauth import make_callable_module  # noqa: E402

make_callable_module(__name__)  # faceauth.search(...) calls faceauth.api.search
