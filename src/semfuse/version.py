"""The package's version, in a leaf module (it imports nothing), so that any module can name it without importing
the package's ``__init__`` and, through its lazy API, everything else."""

__version__ = "0.1.0"
