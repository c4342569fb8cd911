"""The one exception type that the command line prints as a single line instead of a traceback."""


class SemfuseError(Exception):
    """A problem with the user's input or environment; the message says what is wrong and what to do."""
