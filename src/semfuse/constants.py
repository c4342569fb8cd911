"""Conventions shared by data, losses and metrics (a leaf module: it imports nothing from semfuse)."""

IGNORE_INDEX = 255  # label id of pixels that count in no loss and no score (unlabelled crops, excluded classes)
DEFAULT_MAX_PIXELS = 50_000_000  # largest image the readers accept by default: about 7000 x 7000, above 8K video
#                                  frames (33 Mpx), far below a decompression bomb's claim
PNG_COMPRESS_LEVEL = 1  # zlib level of the PNGs semfuse writes (fused images, overlays): OpenCV's default; at
#                         640x480 RGB about 5x faster to encode than Pillow's default 6 for files about 15-20% larger
#                         (benchmarks/pipeline_throughput.py); the pixels are the same at every level
SEGMENTATION_WINDOW = (240, 320)  # sliding-window size (height, width) of segmentation prediction (the authors')
SEGMENTATION_STRIDE = (120, 160)  # its stride (height, width): windows overlap by half (the authors')
