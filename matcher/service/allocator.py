"""Keep the memory the matcher frees, instead of handing it back to the kernel.

glibc's malloc gives freed memory back to the kernel (trims the heap top, unmaps large
blocks) and then has to fault it in again, page by page, when the next batch allocates:
replies, order documents and the 0.5 MB journal payload of a full batch are freed and
made again all the time. On the reference VM a minor page fault costs about 4 µs, and the
apply stage took 0.8 of them a command (bench.apply: 26 µs a command with the default
settings against 22.7 µs with these; docs/BENCHMARKS.md).

The price is that the process keeps its peak heap. The matcher's memory is bounded
(the dedupe memory's capacity, the projector's backlog, the batch size), so its peak is.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("matcher")

# mallopt's parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 64 * 1024 * 1024


def keep_freed_memory(keep_bytes: int = KEEP_BYTES) -> bool:
    """Tune malloc so that freed memory stays mapped: never trim the heap, grow it
    `keep_bytes` at a time, and serve blocks up to that size from the heap rather than
    their own mappings. False (and nothing changed) where malloc is not glibc's."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        log.info("malloc has no mallopt: freed memory goes back to the kernel")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # glibc caps M_MMAP_THRESHOLD at 32 MiB on 64-bit (HEAP_MAX / 2) and refuses more.
    settings = (
        (M_TRIM_THRESHOLD, 2**31 - 1),
        (M_TOP_PAD, keep_bytes),
        (M_MMAP_THRESHOLD, min(keep_bytes, 32 * 1024 * 1024)),
    )
    return all(mallopt(param, value) == 1 for param, value in settings)
