"""`import genolong.models` tunes glibc's allocator, unless GENOLONG_MALLOC_TUNE=0."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")

# how many blocks glibc holds as separate mmaps, before and after a 16 MB tensor
PROBE = """
import ctypes, json
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
import genolong.models
import torch
from genolong.models.process import tune_allocator
from genolong.models.process import untune_allocator
import sys
if "untune" in sys.argv:
    untune_allocator()
before = libc.mallinfo2().hblks
t = torch.ones(4_000_000 if "untune" not in sys.argv else 10_000_000)
print(json.dumps({"tuned": tune_allocator(), "new_mmaps": libc.mallinfo2().hblks - before}))
"""


def _probe(*args, **env) -> dict:
    full_env = {k: v for k, v in os.environ.items() if k != "GENOLONG_MALLOC_TUNE"}
    full_env.update(PYTHONPATH=str(REPO), **env)
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=full_env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_keeps_large_blocks_on_the_heap():
    assert _probe() == {"tuned": True, "new_mmaps": 0}


def test_switched_off_by_the_environment():
    assert _probe(GENOLONG_MALLOC_TUNE="0") == {"tuned": False, "new_mmaps": 1}


def test_untune_restores_glibc_defaults():
    """What the reversible stack calls on its first long input: large blocks (here 40 MB) are
    mmapped again."""
    assert _probe("untune") == {"tuned": False, "new_mmaps": 1}
