"""semfuse: semantic-driven infrared-visible image fusion (Wu et al., IEEE SPL 2023)."""

import logging

__version__ = "0.1.0"

logger = logging.getLogger("semfuse")
logger.addHandler(logging.NullHandler())
