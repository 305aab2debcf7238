"""Several producers of one stream run at once: each in a thread of its own, their items
merged into one iterator as they come (order between producers is not kept).

Used when one file is decoded by several decoder processes over disjoint parts of its
records: the reader threads keep every decoder's pipe drained, so no decoder waits on
another's reader. The first producer error is raised to the consumer, and a consumer that
stops early (an error downstream, a worker abandoning its file) stops every producer: each
leaves its `with` blocks at its next item, which stops its decoder.
"""
from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

from common.early import STOP_SIGNALS  # a process's stop requests

_DONE = object()
_PUT_WAIT_S = 0.1


def leave_signals_to_main_thread() -> None:
    """Called first in a helper thread: the stop signals are never delivered to it. Python
    runs signal handlers in the main thread only; a signal the kernel hands to another thread
    waits until the main thread wakes by itself, and two Ctrl-C in that time count as one
    (a second Ctrl-C, which abandons the work in flight, would be lost)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


class _Stopped(Exception):
    """Raised inside a producer whose consumer went away."""


def merged(producers: Iterable[Callable[[], Iterable[T]]], depth: int = 4) -> Iterator[T]:
    """Items of every producer, as they are made. `depth` items per producer may wait in
    memory (the bound that keeps memory flat when the consumer is the slow side)."""
    producers = list(producers)
    if len(producers) == 1:
        yield from producers[0]()
        return
    items: queue.Queue = queue.Queue(maxsize=depth * len(producers))
    stop = threading.Event()

    def put(item) -> None:
        while True:
            if stop.is_set():
                raise _Stopped
            try:
                items.put(item, timeout=_PUT_WAIT_S)
                return
            except queue.Full:
                continue

    def run(produce: Callable[[], Iterable[T]]) -> None:
        leave_signals_to_main_thread()
        try:
            for item in produce():
                put((None, item))
            put((None, _DONE))
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            try:
                put((exc, _DONE))
            except _Stopped:
                pass

    threads = [threading.Thread(target=run, args=(p,), name=f"producer-{n}", daemon=True)
               for n, p in enumerate(producers)]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            error, item = items.get()
            if error is not None:
                raise error
            if item is _DONE:
                running -= 1
                continue
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()
