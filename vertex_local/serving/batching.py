"""Dynamic batching of one model's concurrent predict requests, as TF Serving batches them.

Requests wait in a bounded queue. A batch starts with the oldest one and takes every request already
waiting, up to max_batch_size images. It only waits for more (at most batch_timeout_ms) while it holds
fewer requests than the previous batch did: a lone caller never waits, a crowd gets gathered.

Where a batch runs. A lone request of at most inline_max_images images, with nothing else waiting or
running, calls the model right here on the event loop, which that call blocks (about 0.4 ms for one image)
instead of paying two thread hand-offs: on a busy machine those cost a lone request more than the call.
Every other batch runs in a worker thread of the executor, so the loop goes on reading and parsing
requests meanwhile. A full batch may start beside a running one (up to max_running at once), so that
TensorFlow computes on every core under big bodies; a smaller batch waits for the running ones, taking in
whoever arrives meanwhile, so that small requests still share batches.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Callable

import numpy as np

from pipeline_config import Serving
from vertex_local.errors import ApiError

RunModel = Callable[[np.ndarray], np.ndarray]  # blocking: instances [n, *input shape] -> probabilities [n, classes]


@dataclasses.dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    images: int = 0
    most_requests: int = 0  # in one run of the model
    most_images: int = 0
    inline: int = 0  # batches run on the event loop
    most_running: int = 0  # batches in worker threads at once


@dataclasses.dataclass
class Pending:
    images: np.ndarray
    future: asyncio.Future[np.ndarray]


def image_count(batch: list[Pending]) -> int:
    return sum(len(pending.images) for pending in batch)


class Batcher:
    """One model's queue and the task that runs its batches; lives on the server's event loop."""

    def __init__(
        self, name: str, run_model: RunModel, executor: concurrent.futures.Executor, limits: Serving, max_running: int
    ) -> None:
        self.name = name
        self.stats = BatchStats()
        self._run_model = run_model
        self._executor = executor
        self._max_images = limits.max_batch_size
        self._inline_images = limits.inline_max_images
        self._max_running = max_running
        self._timeout_s = limits.batch_timeout_ms / 1000
        self._queue: asyncio.Queue[Pending] = asyncio.Queue(maxsize=limits.max_queue)
        self._carry: Pending | None = None  # did not fit the last batch; opens the next one
        self._held: list[Pending] = []  # gathered, waiting for its turn to run
        self._running: dict[asyncio.Task[None], list[Pending]] = {}  # batches in worker threads
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
        """Fail every waiting and running request with `reason` and end the tasks."""
        self._stopped = reason
        for task in [*self._running, *([self._task] if self._task else [])]:
            task.cancel()
        waiting = [*self._held, *([self._carry] if self._carry else [])]
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for pending in [*(p for batch in self._running.values() for p in batch), *waiting]:
            if not pending.future.done():
                pending.future.set_exception(ApiError(reason.code, reason.message))

    async def _serve(self) -> None:
        while True:
            self._held = await self._gather()
            while self._running and not self._may_start_beside_running(self._held):
                await asyncio.wait(list(self._running), return_when=asyncio.FIRST_COMPLETED)
                self._take_waiting(self._held)
            batch, self._held = self._held, []
            if not self._running and len(batch) == 1 and len(batch[0].images) <= self._inline_images:
                self._run_inline(batch)
                continue
            task = asyncio.get_running_loop().create_task(self._run_in_worker(batch))
            self._running[task] = batch
            task.add_done_callback(self._running.pop)
            self.stats.most_running = max(self.stats.most_running, len(self._running))

    def _may_start_beside_running(self, batch: list[Pending]) -> bool:
        return len(self._running) < self._max_running and image_count(batch) >= self._max_images

    async def _gather(self) -> list[Pending]:
        batch = [await self._next_open()]
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        while self._take_waiting(batch) and len(batch) < self._crowd:
            pending = await self._next_before(deadline)
            if pending is None:
                break
            self._add(batch, pending)
        self._crowd = len(batch)
        return batch

    def _take_waiting(self, batch: list[Pending]) -> bool:
        """Move waiting requests into `batch` while they fit; True while it could still take more."""
        while self._carry is None and image_count(batch) < self._max_images:
            pending = self._next_waiting()
            if pending is None:
                return True
            self._add(batch, pending)
        return False

    def _add(self, batch: list[Pending], pending: Pending) -> None:
        if image_count(batch) + len(pending.images) > self._max_images:
            self._carry = pending  # opens the next batch
        else:
            batch.append(pending)

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

    def _run_inline(self, batch: list[Pending]) -> None:
        try:
            probabilities = self._run_model(batch[0].images)  # on the loop, on purpose: see the module docstring
        except Exception as exc:  # a model failure fails this batch's requests, never the batcher
            self._fail(batch, exc)
            return
        self.stats.inline += 1
        self._deliver(batch, probabilities)

    async def _run_in_worker(self, batch: list[Pending]) -> None:
        images = batch[0].images if len(batch) == 1 else np.concatenate([p.images for p in batch])
        try:
            loop = asyncio.get_running_loop()
            probabilities = await loop.run_in_executor(self._executor, self._run_model, images)
        except Exception as exc:
            self._fail(batch, exc)
            return
        self._deliver(batch, probabilities)

    def _fail(self, batch: list[Pending], exc: Exception) -> None:
        message = f"deployed model {self.name} failed on {image_count(batch)} images: {type(exc).__name__}: {exc}"
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(ApiError(500, message))

    def _deliver(self, batch: list[Pending], probabilities: np.ndarray) -> None:
        start = 0
        for pending in batch:
            end = start + len(pending.images)
            if not pending.future.done():
                pending.future.set_result(probabilities[start:end])
            start = end
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.images += start
        self.stats.most_requests = max(self.stats.most_requests, len(batch))
        self.stats.most_images = max(self.stats.most_images, start)
