"""Process set-up for speed: glibc's allocator told to keep freed memory in the process.

glibc hands every large allocation (≥128 KiB at first) to mmap and gives it back to the kernel
on free, so each training step page-faults through gigabytes of fresh memory: measured at 16k
tokens, a step takes 2-2.8x longer than with the allocator keeping that memory (see
benchmarks/README.md). `tune_allocator` makes the same change as starting the process with
`MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`, from inside it, through `mallopt`:

- M_MMAP_MAX = 0: large blocks come from the heap, which is reused, instead of fresh mmaps;
- M_TRIM_THRESHOLD = 2 GiB - 1 (the largest `int`): up to that much free memory at the top of
  the heap stays in the process instead of going back to the kernel after every step.

The price is resident memory: what a step freed stays counted in the process's RSS (and the
peak can be higher, from fragmentation). `import genolong.models` calls it once; set
GENOLONG_MALLOC_TUNE=0 to keep glibc's defaults. It does nothing off glibc (macOS, musl).

It only pays at short lengths, where a step is a few seconds of page faults. On long inputs the
heap only grows (a 1,048,576-token step was killed at 24.4 GB with it, and ran in 22.3 GiB
without), so the reversible stack calls `untune_allocator` on its first long input: glibc's
defaults again, for the rest of the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

ENV_VAR = "GENOLONG_MALLOC_TUNE"
# <malloc.h>
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
TRIM_THRESHOLD = 2**31 - 1
# where glibc's own dynamic thresholds end up once large blocks have been freed (malloc.c:
# DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, and twice that for trimming): blocks under 32 MiB come
# from the heap and are reused, larger ones are mmapped and given back on free. Fixed values,
# because any mallopt call stops glibc's adjustment: with its 128 KiB start every per-slab
# temporary of a long step would be a fresh mmap
DEFAULT_MMAP_MAX, UNTUNED_MMAP_THRESHOLD = 65536, 32 * 2**20
UNTUNED_TRIM_THRESHOLD = 2 * UNTUNED_MMAP_THRESHOLD

_done: bool | None = None
_libc_handle = None


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc's `malloc_trim`, which also
    releases whole free pages inside the heap, not only at its top); nothing off glibc."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _libc():
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                _libc_handle = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _libc_handle.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc_handle.mallopt  # glibc's: both functions or neither
            except (OSError, AttributeError):
                _libc_handle = False
    return _libc_handle or None


def tune_allocator() -> bool:
    """Apply the settings once per process; True when they are in effect."""
    global _done
    if _done is None:
        _done = _apply()
    return _done


def untune_allocator() -> None:
    """Undo `tune_allocator` for the rest of the process (blocks from 32 MiB on are mmapped and
    given back on free again, as glibc does by default once it has adjusted its thresholds) and
    return the heap's free pages; only the latter when it was off."""
    global _done
    if tune_allocator():
        mallopt = _libc().mallopt
        mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        mallopt(M_MMAP_THRESHOLD, UNTUNED_MMAP_THRESHOLD)
        mallopt(M_TRIM_THRESHOLD, UNTUNED_TRIM_THRESHOLD)
        _done = False
    release_free_memory()


def _apply() -> bool:
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    libc = _libc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
