"""merged(): several producers at once, their items merged; errors and early stops."""
from __future__ import annotations

import threading
import time

import pytest

from common.parallel import merged


def test_a_single_producer_passes_through_in_order():
    assert list(merged([lambda: iter([3, 1, 2])])) == [3, 1, 2]


def test_every_item_of_every_producer_arrives_once():
    producers = [lambda: iter(range(0, 500)), lambda: iter(range(500, 1200)),
                 lambda: iter([])]
    items = list(merged(producers, depth=2))
    assert len(items) == 1200
    assert sorted(items) == list(range(1200))


def test_both_producers_run_at_once():
    # each producer waits until the other has started: one after the other would hang
    started = [threading.Event(), threading.Event()]

    def producer(me: int):
        started[me].set()
        if not started[1 - me].wait(5):
            raise AssertionError(f"producer {1 - me} never started while {me} ran")
        yield me

    assert sorted(merged([lambda: producer(0), lambda: producer(1)])) == [0, 1]


def test_a_producer_error_reaches_the_consumer_and_stops_the_others():
    ended = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            ended.set()

    def failing():
        yield -1
        raise ValueError("nfdump output cannot be parsed: row 7")

    with pytest.raises(ValueError, match="^nfdump output cannot be parsed: row 7$"):
        for _ in merged([endless, failing], depth=1):
            pass
    assert ended.is_set()


def test_a_consumer_that_stops_early_stops_every_producer():
    ended = [threading.Event(), threading.Event()]

    def endless(me: int):
        try:
            while True:
                yield me
        finally:
            ended[me].set()

    stream = merged([lambda: endless(0), lambda: endless(1)], depth=1)
    assert next(stream) in (0, 1)
    before = threading.active_count()
    stream.close()
    assert ended[0].is_set() and ended[1].is_set()
    assert threading.active_count() == before - 2


def test_a_slow_consumer_bounds_what_waits_in_memory():
    made = []

    def producer():
        for n in range(100):
            made.append(n)
            yield n

    stream = merged([producer, lambda: iter([])], depth=3)
    next(stream)
    time.sleep(0.3)
    # one taken, depth * producers waiting at most, one more held by the blocked put
    assert len(made) <= 1 + 3 * 2 + 1
    stream.close()
