"""The command line's shared parts: argparse helpers and the `faceauth` dispatcher. The commands
themselves stay at faceauth/<command>.py so that `python -m faceauth.<command>` runs them."""
