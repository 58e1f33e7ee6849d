"""`python -m faceauth COMMAND ...`: the same as the `faceauth` command."""

import sys

from faceauth.commands.main import main

sys.exit(main(name="python -m faceauth"))
