"""`parallel.ordered_map`: results in order, bounded work in flight, torch's threads put back."""

import threading
import time

import torch

from genolong.parallel import ordered_map


def test_results_in_order_with_few_items_in_flight():
    running, most = [0], [0]
    lock = threading.Lock()

    def slow_square(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        assert torch.get_num_threads() == 1  # whole batches per thread, single-threaded operations
        time.sleep(0.002 * (x % 3))  # later items may finish first
        with lock:
            running[0] -= 1
        return x * x

    before = torch.get_num_threads()
    consumed = []
    for y in ordered_map(slow_square, iter(range(40)), threads=2):
        consumed.append(y)
    assert consumed == [x * x for x in range(40)]
    assert 1 <= most[0] <= 2
    assert torch.get_num_threads() == before


def test_one_thread_runs_in_the_caller():
    callers = set()
    assert list(ordered_map(lambda x: callers.add(threading.get_ident()) or x, range(5), threads=1)) == list(range(5))
    assert callers == {threading.get_ident()}
