"""`--threads N`: how many CPU threads a command's numerical libraries use.

torch sizes its pool to the physical cores and spins its workers while they wait: with another
job on the machine, an annotate run that takes 20 s alone took 192 s (issue 20). `apply` sets
torch's intra-op threads (only for commands that run a network, so the others never import
torch) and, through threadpoolctl where it is installed (scikit-learn brings it), the BLAS and
OpenMP pools numpy and scikit-learn use.
"""

from __future__ import annotations

import argparse
import os

from genolong.errors import GenolongError


def all_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch and the BLAS/OpenMP pools (default: all cores)")


def apply(threads: int | None, torch: bool = False) -> int:
    """Limit the thread pools to `threads` (None: all cores); `torch` also sets torch's. Returns
    the number used."""
    n = all_cores() if threads is None else int(threads)
    if n < 1:
        raise GenolongError(f"--threads {threads}: must be at least 1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=n)  # process-wide from here on
    if torch:
        import torch as torch_module

        torch_module.set_num_threads(n)
    return n
