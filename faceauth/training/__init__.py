"""One training run's parts: the config dataclasses and their checks, the session a run reports to, the
epoch loop (fit), the checkpoint format and the losses. May import faceauth.io."""
