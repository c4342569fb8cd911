"""Evaluation of fused images: the fusion metric tables (:mod:`.fusion`, ``semfuse evaluate``) and the paper's
segmentation protocol (:mod:`.segmentation`, ``semfuse segeval``)."""
