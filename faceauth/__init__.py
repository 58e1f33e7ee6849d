"""faceauth: hyperparameter search for face-authentication models on Ray Tune, Ray Train and Optuna."""

__version__ = "0.1.0"
