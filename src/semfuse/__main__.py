"""``python -m semfuse`` (and ``torchrun -m semfuse train ...``) runs the command line."""

import sys

from semfuse.cli import main

sys.exit(main())
