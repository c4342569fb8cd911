"""Subcommands of the ``semfuse`` command line, one module each (see :mod:`semfuse.cli`)."""
