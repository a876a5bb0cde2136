"""One exception type for every user-facing error: the CLI prints its message on one line and exits with 2."""


class LanternError(Exception):
    """A problem with the user's input (files, options, run directories), reported without a traceback."""
