"""Batches of windows through the network on several CPU threads at once, in order.

The network over a window is hundreds of small operations (make demo's 1-layer d=64 Reformer:
0.13 MFLOP per token, its time mostly in elementwise passes over 32 x 96 attention blocks). Split
inside each operation (torch's intra-op threads), every one of them ends in a barrier; with other
jobs on the machine the waiting threads spin: its forward on two threads took 10x as long as on
one (issue 20; benchmarks/README.md, "Annotation speed"). Here each thread runs
whole batches with single-threaded operations instead: no barrier, and a batch's numbers do not
depend on the thread count (the same operations on the same rows), so `--threads 1` and `2` give
bit-identical probabilities. torch releases the GIL inside every operation.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def single_threaded_ops():
    """torch's intra-op threads set to 1 inside, and put back after (a thread's first operation
    reads the count then, so worker threads started inside keep one)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """`fn(item)` for each item, in order; on `threads` > 1 threads, with at most 2 x threads
    items in flight (what is held grows with the thread count, never with the record)."""
    if threads <= 1:
        yield from map(fn, items)
        return
    with single_threaded_ops(), ThreadPoolExecutor(threads, thread_name_prefix="genolong-forward") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
