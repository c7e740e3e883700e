"""Dynamic batching of one model's concurrent predict requests, as TF Serving batches them.

Requests wait in a bounded queue. A batch starts with the oldest one and takes every request already
waiting, up to max_batch_size images. It only waits for more (at most batch_timeout_ms) while it holds
fewer requests than the previous batch did: a lone caller never waits, a crowd gets gathered. The model
runs in a worker thread of the executor it is given, so the event loop never waits on TensorFlow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Callable

import numpy as np

from pipeline_config import Serving
from vertex_local.errors import ApiError

RunModel = Callable[[np.ndarray], np.ndarray]  # blocking: images [n, 28, 28] -> probabilities [n, 10]


@dataclasses.dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    images: int = 0
    most_requests: int = 0  # in one run of the model
    most_images: int = 0


@dataclasses.dataclass
class Pending:
    images: np.ndarray
    future: asyncio.Future[np.ndarray]


class Batcher:
    """One model's queue and the task that runs its batches; lives on the server's event loop."""

    def __init__(self, name: str, run_model: RunModel, executor: concurrent.futures.Executor, limits: Serving) -> None:
        self.name = name
        self.stats = BatchStats()
        self._run_model = run_model
        self._executor = executor
        self._max_images = limits.max_batch_size
        self._timeout_s = limits.batch_timeout_ms / 1000
        self._queue: asyncio.Queue[Pending] = asyncio.Queue(maxsize=limits.max_queue)
        self._carry: Pending | None = None  # did not fit the last batch; opens the next one
        self._running: list[Pending] = []
        self._crowd = 1  # requests the previous batch held
        self._task: asyncio.Task[None] | None = None
        self._stopped: ApiError | None = None

    async def submit(self, images: np.ndarray) -> np.ndarray:
        """The model's rows for these images, computed in a batch with whoever else is waiting."""
        if self._stopped is not None:
            raise ApiError(self._stopped.code, self._stopped.message)
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._serve(), name=f"batcher-{self.name}")
        pending = Pending(images, loop.create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            message = f"deployed model {self.name} has {self._queue.maxsize} requests waiting; retry later"
            raise ApiError(429, message) from None
        return await pending.future

    def stop(self, reason: ApiError) -> None:
        """Fail every waiting and running request with `reason` and end the task."""
        self._stopped = reason
        if self._task is not None:
            self._task.cancel()
        waiting = [self._carry] if self._carry else []
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for pending in [*self._running, *waiting]:
            if not pending.future.done():
                pending.future.set_exception(ApiError(reason.code, reason.message))

    async def _serve(self) -> None:
        while True:
            self._running = await self._gather()
            await self._execute(self._running)
            self._running = []

    async def _gather(self) -> list[Pending]:
        batch = [await self._next_open()]
        images = len(batch[0].images)
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        while images < self._max_images:
            pending = self._next_waiting()
            if pending is None and len(batch) < self._crowd:
                pending = await self._next_before(deadline)
            if pending is None:
                break
            if images + len(pending.images) > self._max_images:
                self._carry = pending
                break
            batch.append(pending)
            images += len(pending.images)
        self._crowd = len(batch)
        return batch

    async def _next_open(self) -> Pending:
        """The request that opens a batch: the carried-over one, else the oldest live one."""
        pending, self._carry = self._carry, None
        while pending is None or pending.future.done():  # done: its caller went away
            pending = await self._queue.get()
        return pending

    def _next_waiting(self) -> Pending | None:
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                return pending
        return None

    async def _next_before(self, deadline: float) -> Pending | None:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return None
        try:
            pending = await asyncio.wait_for(self._queue.get(), remaining)
        except TimeoutError:
            return None
        return None if pending.future.done() else pending

    async def _execute(self, batch: list[Pending]) -> None:
        images = batch[0].images if len(batch) == 1 else np.concatenate([p.images for p in batch])
        try:
            loop = asyncio.get_running_loop()
            probabilities = await loop.run_in_executor(self._executor, self._run_model, images)
        except Exception as exc:  # a model failure fails this batch's requests, never the batcher
            message = f"deployed model {self.name} failed on {len(images)} images: {type(exc).__name__}: {exc}"
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(ApiError(500, message))
            return
        start = 0
        for pending in batch:
            end = start + len(pending.images)
            if not pending.future.done():
                pending.future.set_result(probabilities[start:end])
            start = end
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.images += len(images)
        self.stats.most_requests = max(self.stats.most_requests, len(batch))
        self.stats.most_images = max(self.stats.most_images, len(images))
