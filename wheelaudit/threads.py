"""Small thread helpers: work over a list, one job in the background, a pool of tasks.

A few lines of ``threading`` instead of ``concurrent.futures``, whose import (with
``logging`` and ``traceback`` behind it) cost a small repair ~4 ms of its start-up.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from ._typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_in_threads(work: Callable[[T], R], items: list[T], workers: int) -> Callable[[], list[R]]:
    """Run ``work`` over ``items`` in up to ``workers`` threads, in order of the list.

    The returned function joins the threads and returns the results in item order. After
    an error no item is started; the items already started finish, and the error of the
    earliest failed item is raised: that is always the same one, since every item before it
    was started before it. The calling thread works too, when it waits.
    """
    results: list[R | None] = [None] * len(items)
    errors: list[tuple[int, BaseException]] = []
    next_index = iter(range(len(items)))
    lock = threading.Lock()

    def worker() -> None:
        while not errors:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            try:
                results[i] = work(items[i])
            except BaseException as exc:  # handed to the caller, who re-raises it
                errors.append((i, exc))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(workers, len(items))) - 1)]
    for thread in threads:
        thread.start()

    def wait() -> list[R]:
        worker()
        for thread in threads:
            thread.join()
        if errors:
            raise min(errors, key=lambda error: error[0])[1]
        return results  # type: ignore[return-value]  # every slot was filled

    return wait


class Cancelled(Exception):
    """The task was dropped before it ran (its pool was shut down)."""


class Task(Generic[R]):
    """One call handed to a :class:`TaskPool`; :meth:`result` waits for it."""

    __slots__ = ("_done", "_error", "_run", "_value")

    def __init__(self, run: Callable[[], R]) -> None:
        self._run: Callable[[], R] | None = run
        self._done = threading.Event()
        self._value: R | None = None
        self._error: BaseException | None = None

    def execute(self) -> None:
        run, self._run = self._run, None
        try:
            if run is None:
                raise Cancelled
            self._value = run()
        except BaseException as exc:  # kept for the caller of result()
            self._error = exc
        finally:
            self._done.set()

    def cancel(self) -> None:
        self._run = None
        self.execute()

    def result(self) -> R:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set by execute()

    def succeeded(self) -> bool:
        """Done, and neither failed nor cancelled."""
        return self._done.is_set() and self._error is None


class TaskPool:
    """Up to ``workers`` daemon threads running submitted tasks in submission order."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers = max(1, workers)
        self._name = name
        self._queue: deque[Task[object] | None] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._threads: list[threading.Thread] = []
        self._cancelling = False

    def submit(self, run: Callable[[], R]) -> Task[R]:
        task: Task[R] = Task(run)
        with self._ready:
            self._queue.append(task)  # type: ignore[arg-type]  # the queue only runs and cancels tasks
            self._ready.notify()
        if len(self._threads) < self._workers:
            thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return task

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                task = self._queue.popleft()
            if task is None:
                return
            if self._cancelling:
                task.cancel()
            else:
                task.execute()

    def shutdown(self) -> None:
        """Drop the tasks not yet started, let the running ones finish, and join the threads."""
        with self._ready:
            self._cancelling = True
            self._queue.extend([None] * len(self._threads))
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()
        for task in self._queue:  # submitted after the last thread left, or never picked up
            if task is not None:
                task.cancel()
        self._queue.clear()
