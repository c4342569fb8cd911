"""Conventions shared by data, losses and metrics (a leaf module: it imports nothing from semfuse)."""

IGNORE_INDEX = 255  # label id of pixels that count in no loss and no score (unlabelled crops, excluded classes)
DEFAULT_MAX_PIXELS = 50_000_000  # largest image the readers accept by default: about 7000 x 7000, above 8K video
#                                  frames (33 Mpx), far below a decompression bomb's claim
SEGMENTATION_WINDOW = (240, 320)  # sliding-window size (height, width) of segmentation prediction (the authors')
SEGMENTATION_STRIDE = (120, 160)  # its stride (height, width): windows overlap by half (the authors')
