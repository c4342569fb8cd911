"""Offline tools that produce files semfuse ships; run by hand, never imported by the runtime package.

``python -m semfuse.tools.learn_dictionary`` learns the MST-SR dictionary
(``semfuse/methods/classical/data/mst_sr_dictionary.npy``) with K-SVD (:mod:`semfuse.tools.ksvd`). Fusion, training
and evaluation only read that file (:mod:`semfuse.methods.classical.dictionary`).
"""
