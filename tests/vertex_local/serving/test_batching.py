"""Batcher: where a batch runs (on the event loop, in a worker thread, beside another) and how stop ends them.

The model here is a plain function that gives each image a row of its first pixel, so every caller can
tell its own rows; what it records (threads, calls at once) is what the tests read. Real TensorFlow
behind the batcher: test_model_server.py.

Run: .venv/bin/pytest tests/vertex_local/serving/test_batching.py
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from pipeline_config import load_config
from tests.support.loop_thread import LoopThread
from vertex_local.errors import ApiError
from vertex_local.serving.batching import Batcher

WAIT_S = 20  # for a thread event or a barrier; the tests pass in milliseconds when things are right


def images(*firsts: float) -> np.ndarray:
    """One image per value, every pixel that value."""
    return np.repeat(np.asarray(firsts, np.float32)[:, None, None], 28, axis=1).repeat(28, axis=2)


def rows_of(batch: np.ndarray) -> np.ndarray:
    return np.repeat(batch[:, :1, 0], 10, axis=1)


class RecordingModel:
    """rows_of, noting the thread of each call and the most calls running at once; may block on `gate`."""

    def __init__(self, gate: Callable[[np.ndarray], None] = lambda batch: None) -> None:
        self.threads: list[threading.Thread] = []
        self.sizes: list[int] = []
        self.running = self.most_running = 0
        self.gate = gate
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self.threads.append(threading.current_thread())
            self.sizes.append(len(batch))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self.gate(batch)
            return rows_of(batch)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()


@contextlib.contextmanager
def batcher_on(loop: LoopThread, model: RecordingModel, **limits: Any) -> Iterator[Batcher]:
    serving = dataclasses.replace(load_config("local", environ={}).serving, **limits)
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        batcher = Batcher("dm-test", model, executor, serving, max_running=2)
        try:
            yield batcher
        finally:
            loop.loop.call_soon_threadsafe(batcher.stop, ApiError(503, "test over"))


async def submit_all(batcher: Batcher, batches: list[np.ndarray]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(batch) for batch in batches), return_exceptions=True)


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until `condition` holds, for at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the batcher never got there"
        await asyncio.sleep(0)


def test_a_lone_small_request_runs_on_the_event_loop_and_others_in_a_worker_thread(loop: LoopThread) -> None:
    model = RecordingModel()
    with batcher_on(loop, model, inline_max_images=1) as batcher:
        lone = loop.run(batcher.submit(images(0.5)))
        two_images = loop.run(batcher.submit(images(0.25, 0.75)))
        crowd = loop.run(submit_all(batcher, [images(k / 10) for k in range(5)]))
    np.testing.assert_array_equal(lone, rows_of(images(0.5)))
    np.testing.assert_array_equal(two_images, rows_of(images(0.25, 0.75)))
    for k, rows in enumerate(crowd):
        np.testing.assert_array_equal(rows, rows_of(images(k / 10)))
    assert model.threads[0] is loop.thread
    assert all(thread is not loop.thread for thread in model.threads[1:]) and model.sizes[1:] == [2, 5]
    assert batcher.stats.inline == 1 and batcher.stats.batches == 3


def test_full_batches_compute_side_by_side_on_the_worker_threads(loop: LoopThread) -> None:
    both_inside = threading.Barrier(2, timeout=WAIT_S)  # passes only if two calls run at once
    model = RecordingModel(gate=lambda batch: both_inside.wait())
    with batcher_on(loop, model, max_batch_size=4) as batcher:
        results = loop.run(submit_all(batcher, [images(0.1, 0.2, 0.3, 0.4), images(0.5, 0.6, 0.7, 0.8)]))
    np.testing.assert_array_equal(results[0], rows_of(images(0.1, 0.2, 0.3, 0.4)))
    np.testing.assert_array_equal(results[1], rows_of(images(0.5, 0.6, 0.7, 0.8)))
    assert model.most_running == 2 and batcher.stats.most_running == 2


def test_a_partial_batch_waits_for_the_running_one_and_takes_in_the_latecomers(loop: LoopThread) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold_full_batches(batch: np.ndarray) -> None:
        if len(batch) == 4:
            entered.set()
            assert release.wait(WAIT_S)

    model = RecordingModel(gate=hold_full_batches)

    async def scenario(batcher: Batcher) -> list[Any]:
        full = asyncio.ensure_future(batcher.submit(images(0.1, 0.2, 0.3, 0.4)))
        await until(entered.is_set)
        early = [asyncio.ensure_future(batcher.submit(images(k / 10))) for k in range(2)]
        await until(lambda: batcher.stats.most_running == 1 and len(batcher._held) == 2)
        late = asyncio.ensure_future(batcher.submit(images(0.9)))
        await until(lambda: batcher._queue.qsize() == 1)
        release.set()
        return await asyncio.gather(full, *early, late)

    with batcher_on(loop, model, max_batch_size=4, batch_timeout_ms=0.0) as batcher:
        try:
            results = loop.run(scenario(batcher))
        finally:
            release.set()  # a failed scenario must not leave a worker thread waiting
    for rows, sent in zip(results, [images(0.1, 0.2, 0.3, 0.4), images(0.0), images(0.1), images(0.9)], strict=True):
        np.testing.assert_array_equal(rows, rows_of(sent))
    assert model.most_running == 1 and model.sizes == [4, 3]  # the two early ones and the late one, together


def test_stop_fails_running_held_and_waiting_requests_alike(loop: LoopThread) -> None:
    entered, release = threading.Event(), threading.Event()
    model = RecordingModel(gate=lambda batch: (entered.set(), release.wait(WAIT_S)))

    async def scenario(batcher: Batcher) -> list[Any]:
        running = asyncio.ensure_future(batcher.submit(images(0.1, 0.2)))
        await until(entered.is_set)
        others = [asyncio.ensure_future(batcher.submit(images(k / 10))) for k in range(3)]
        await until(lambda: len(batcher._held) > 0)
        batcher.stop(ApiError(404, "deployed model dm-test was undeployed"))
        return await asyncio.gather(running, *others, return_exceptions=True)

    with batcher_on(loop, model, max_batch_size=2) as batcher:
        try:
            results = loop.run(scenario(batcher))
        finally:
            release.set()
        with pytest.raises(ApiError, match="undeployed"):  # and so is every later one
            loop.run(batcher.submit(images(0.5)))
    assert [(r.code, r.message) for r in results] == [(404, "deployed model dm-test was undeployed")] * 4
