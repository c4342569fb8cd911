"""Class lists of the label sets the field uses (a leaf module: it imports nothing)."""

# MFNet's 9 classes, in label-id order (id 0: unlabelled); MSRS label maps use the same ids.
MFNET_CLASSES = ("unlabelled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")
