"""Keep the image buffers of the input pipeline in the process's heap (glibc ``mallopt``).

Every sample is a fresh float32 array (600 KB at 224²) and every batch a fresh stack of them.
With glibc's defaults, once a batch and its samples are freed the top of the heap exceeds the
(dynamic) trim threshold and goes back to the kernel; the next batch faults it in again, a zeroed
page at a time, which costs about as much as everything but the JPEG decoder. Buffers up to
``MMAP_THRESHOLD`` then come from the heap and up to ``TRIM_THRESHOLD`` of free heap is kept: the
process keeps its peak heap instead of shrinking after each batch. Forked DataLoader workers
inherit the setting.
"""
import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers of glibc's malloc.h."""
MMAP_THRESHOLD = 32 << 20
"""Larger allocations are mapped (and unmapped when freed) on their own: glibc's maximum."""
TRIM_THRESHOLD = 512 << 20
"""Free memory kept at the top of the heap before it is returned to the kernel."""


def keep_freed_buffers():
    """Apply the thresholds above; False where the C library is not glibc (nothing changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mapped = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(mapped) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
