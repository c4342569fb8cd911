"""Classical fusion baselines, each registered by name in :mod:`semfuse.methods.registry`.

=========  ==========================================================================  ======================
name       method                                                                      module
=========  ==========================================================================  ======================
average    (ir + vis) / 2                                                              :mod:`.pixelwise`
max        max(ir, vis)                                                                :mod:`.pixelwise`
laplacian  Laplacian pyramid, max-abs details, averaged base (Burt & Adelson 1983)     :mod:`.pyramid`
dwt        wavelet transform, max-abs details, averaged approximation (Li et al. 1995) :mod:`.wavelet`
gff        guided filtering based fusion (Li, Kang & Hu 2013)                          :mod:`.guided`
mst-sr     Laplacian pyramid + sparse representation (Liu, Liu & Wang 2015)            :mod:`.sparse`
=========  ==========================================================================  ======================

All work on luminance tensors (B, 1, H, W) in [0, 1] of any size; see :mod:`.contract`.
"""

from semfuse.methods.classical import guided, pixelwise, pyramid, sparse, wavelet  # noqa: F401  (registration)
