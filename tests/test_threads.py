"""The thread helpers that replaced ``concurrent.futures`` (wheelaudit.threads): order, errors, cancelling."""

from __future__ import annotations

import threading
import time

import pytest

from wheelaudit.threads import Cancelled, TaskPool, run_in_threads


def test_results_come_in_item_order_whatever_finishes_first() -> None:
    def work(i: int) -> int:
        time.sleep(0.001 * (10 - i))
        return i * i

    assert run_in_threads(work, list(range(10)), 4)() == [i * i for i in range(10)]


def test_the_earliest_failed_item_is_the_error_raised() -> None:
    """Items are started in order, so every item before a failed one was started: its error wins, always."""
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 1:
            time.sleep(0.05)  # fails last in time
            raise ValueError("item 1")
        if i >= 2:
            raise KeyError(f"item {i}")
        return i

    for _ in range(5):
        started.clear()
        with pytest.raises(ValueError, match="item 1"):
            run_in_threads(work, list(range(50)), 3)()
        assert len(started) < 50  # no new item after an error


def test_pool_runs_tasks_and_hands_back_their_errors() -> None:
    pool = TaskPool(2, "test")
    ok = pool.submit(lambda: 41 + 1)
    bad = pool.submit(lambda: 1 // 0)
    assert ok.result() == 42 and ok.succeeded()
    with pytest.raises(ZeroDivisionError):
        bad.result()
    assert not bad.succeeded()
    pool.shutdown()


def test_shutdown_lets_running_tasks_finish_and_cancels_the_rest() -> None:
    pool = TaskPool(1, "test")
    gate = threading.Event()
    running = pool.submit(lambda: gate.wait(5) and "finished")
    waiting = [pool.submit(lambda: "never") for _ in range(3)]
    time.sleep(0.02)
    closer = threading.Thread(target=pool.shutdown)
    closer.start()
    gate.set()
    closer.join(5)
    assert not closer.is_alive()
    assert running.result() == "finished"
    for task in waiting:
        with pytest.raises(Cancelled):
            task.result()
        assert not task.succeeded()
