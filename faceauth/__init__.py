"""faceauth: hyperparameter search for face-authentication models on Ray Tune, Ray Train and Optuna.

    import faceauth
    result = faceauth.search("fusion", trials=20)      # see faceauth.api
"""

import importlib
import sys
import types

from faceauth.io.errors import FaceauthError

__version__ = "0.2.0"
__all__ = ["FaceauthError", "SearchResult", "TrainResult", "datasets", "embed", "evaluate", "export", "search", "train"]


class _CallableModule(types.ModuleType):
    """`faceauth.train`, `.evaluate`, `.export`, `.embed` and `.datasets` are modules (`python -m faceauth.train` runs
    one) and the API's functions at once: calling the module calls `faceauth.api.<its name>`."""

    def __call__(self, *args, **kwargs):
        api = importlib.import_module("faceauth.api")
        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


def make_callable_module(module_name: str) -> None:
    sys.modules[module_name].__class__ = _CallableModule


def __getattr__(name: str):
    # Imported on first use: `import faceauth` stays light (no torch, no Ray).
    if name in ("SearchResult", "TrainResult"):
        return getattr(importlib.import_module("faceauth.api"), name)
    if name == "search":  # a plain function; the search's package is faceauth.tuning
        return importlib.import_module("faceauth.api").search
    if name in ("train", "evaluate", "export", "embed", "datasets"):
        return importlib.import_module(f"faceauth.{name}")
    raise AttributeError(f"module 'faceauth' has no attribute {name!r}")
