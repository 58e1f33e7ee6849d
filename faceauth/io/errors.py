"""The one exception users see: a message that names the file, key or path and the fix."""


class FaceauthError(Exception):
    """An error the user can fix (bad path, bad YAML, bad data). Entry points print it without a traceback."""
