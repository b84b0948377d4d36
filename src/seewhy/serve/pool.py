"""The bounded worker pool explanations run in, off the event loop.

``workers`` threads run the work; up to ``queue`` more requests wait for one. Beyond that a
request is refused at once with :class:`Busy` (the app answers 503 with ``Retry-After``),
so a burst never piles up unbounded memory or latency, and the event loop stays free to
answer ``/api/health`` while every worker is busy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

__all__ = ["Busy", "WorkerPool"]


class Busy(Exception):
    """Every worker is busy and the queue is full.

    Attributes:
        retry_after: seconds after which a retry is likely to be admitted.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in {retry_after} s")
        self.retry_after = retry_after


class WorkerPool:
    """``workers`` threads and at most ``queue`` waiting jobs; :meth:`run` is the async
    runner the routes (and the study routes) await."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be >= 1 and queue >= 0, got {workers} and {queue}")
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="seewhy-serve")
        self._lock = threading.Lock()
        self._admitted = 0
        self._seconds = 1.0  # a running estimate of one job's duration, for Retry-After

    @property
    def admitted(self) -> int:
        """Jobs running or waiting now."""
        return self._admitted

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                waves = self._admitted / self.workers
                raise Busy(max(1, round(waves * self._seconds)))
            self._admitted += 1

    def _release(self, seconds: float) -> None:
        with self._lock:
            self._admitted -= 1
            self._seconds = 0.8 * self._seconds + 0.2 * seconds

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread; raises :class:`Busy` at once when the queue is full."""
        self._admit()
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            return await asyncio.wrap_future(self._executor.submit(work))
        finally:
            self._release(loop.time() - start)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
