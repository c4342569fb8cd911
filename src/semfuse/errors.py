"""The one exception type that the command line prints as a single line instead of a traceback, and its two kinds
for bad input to a library function."""


class SemfuseError(Exception):
    """A problem with the user's input or environment; the message says what is wrong and what to do."""


class InputError(SemfuseError, ValueError):
    """A value given to a library function is unusable (shape, size, option): a ``ValueError`` to Python callers,
    printed as one line by the command line."""


class InputTypeError(SemfuseError, TypeError):
    """An argument of the wrong type (e.g. a numpy array where a tensor is expected): a ``TypeError`` to Python
    callers, printed as one line by the command line."""
