"""Conventions shared by data, losses and metrics (a leaf module: it imports nothing from semfuse)."""

IGNORE_INDEX = 255  # label id of pixels that count in no loss and no score (unlabelled crops, excluded classes)
