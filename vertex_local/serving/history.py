"""The serving metrics' history, sampled from ServingMetrics into SQLite: what the console's charts draw.

Like an RRD it keeps several resolutions, each for a fixed time (RESOLUTIONS): every sample adds the counters'
growth to the current slot of each resolution and deletes the slots older than that resolution keeps, so the
file stays bounded (at most 720 + 1,440 + 720 rows per deployed model). Slots hold counts, not rates: a coarse
slot is the exact sum of the fine ones, and rates and p50/p99 are computed when read, as Prometheus's rate()
and histogram_quantile() do. It is its own file (STATE_DIR/metrics.sqlite3), so it survives restarts; a
graceful stop samples once more, a crash loses at most the last step. Hours with no requests hold no rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vertex_local.serving.prometheus import Totals
from vertex_local.state import Database

LOG = logging.getLogger("vertex_local.history")
Key = tuple[str, str]  # (endpoint id, deployed model id)


@dataclasses.dataclass(frozen=True)
class Resolution:
    step_s: int  # one slot's width
    keep_s: int  # how long its slots are kept


# 5 s slots for an hour, 1 min slots for a day, 1 h slots for 30 days (the Vertex console's longest window).
RESOLUTIONS = (Resolution(5, 3600), Resolution(60, 86_400), Resolution(3600, 30 * 86_400))
# The windows the console offers; each is drawn from the finest resolution that keeps it whole.
WINDOWS = {"5m": 300, "1h": 3600, "6h": 6 * 3600, "12h": 12 * 3600, "1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
SAMPLE_DELAY_S = 0.25  # sample just after a slot ends, so its counts land in that slot

SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    step_s INTEGER NOT NULL,
    endpoint_id TEXT NOT NULL,
    t INTEGER NOT NULL,
    deployed_model_id TEXT NOT NULL,
    requests INTEGER NOT NULL,
    predictions INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    buckets TEXT NOT NULL,
    model_buckets TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (step_s, endpoint_id, t, deployed_model_id)
);
"""


def added(a: Sequence[int], b: Sequence[int], sign: int = 1) -> tuple[int, ...]:
    """Two bucket lists added (or b taken from a); an empty one (no observation yet) counts as zeros."""
    if not a or not b:
        return tuple(a) if a else tuple(sign * v for v in b)
    return tuple(x + sign * y for x, y in zip(a, b, strict=True))


def growth(now: Totals, before: Totals | None) -> Totals:
    """How much one deployed model's counters grew between two samples."""
    if before is None:
        return now
    return Totals(now.requests - before.requests, now.predictions - before.predictions,
                  now.errors - before.errors, added(now.buckets, before.buckets, -1),
                  added(now.model_buckets, before.model_buckets, -1))  # fmt: skip


def quantile(q: float, bounds: Sequence[float], cumulative: Sequence[int]) -> float | None:
    """The q-quantile of a histogram (cumulative counts per bound, +Inf last), interpolated within its bucket as
    Prometheus's histogram_quantile() does; None when it is empty."""
    if not cumulative or cumulative[-1] == 0:
        return None
    rank = q * cumulative[-1]
    for index, count in enumerate(cumulative):
        if count >= rank:
            if index == len(bounds):  # the +Inf bucket: the highest finite bound, as Prometheus answers
                return bounds[-1]
            lower, below = (bounds[index - 1], cumulative[index - 1]) if index else (0.0, 0)
            return lower + (bounds[index] - lower) * (rank - below) / max(count - below, 1)
    return bounds[-1]


class MetricsHistory:
    """The time series of one server's ServingMetrics: record() samples, query() reads a window."""

    def __init__(self, path: Path, bounds: Sequence[float], source: Callable[[], Mapping[Key, Totals]],
                 started: float | None = None) -> None:  # fmt: skip
        self._db = Database(path, SCHEMA)
        self._add_model_latency_column()
        self._sampling = threading.RLock()  # one sample at a time: each reads and moves self._last
        self._bounds = tuple(bounds)  # latency bucket bounds in seconds, +Inf implied
        self._source = source
        self._last: dict[Key, Totals] = {}  # the counters at the last sample (all zero when the server started)
        self._last_at = time.time() if started is None else started
        self._task: asyncio.Task | None = None

    def _add_model_latency_column(self) -> None:
        """A history file written before model latency was recorded gains its column (empty in old rows)."""
        with self._db.transaction() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(slots)")}
            if "model_buckets" not in columns:
                db.execute("ALTER TABLE slots ADD COLUMN model_buckets TEXT NOT NULL DEFAULT '[]'")

    def record(self, totals: Mapping[Key, Totals], now: float) -> None:
        """Add what the counters grew by since the last sample to the slots holding that interval's middle."""
        with self._sampling:
            grown = {key: growth(value, self._last.get(key)) for key, value in totals.items()}
            middle = (self._last_at + now) / 2
            with self._db.transaction() as db:
                for resolution in RESOLUTIONS:
                    slot = int(middle // resolution.step_s) * resolution.step_s
                    for (endpoint_id, deployed_id), delta in grown.items():
                        if delta.requests:
                            self._add(db, resolution.step_s, slot, endpoint_id, deployed_id, delta)
                    old = now - resolution.keep_s
                    db.execute("DELETE FROM slots WHERE step_s = ? AND t < ?", (resolution.step_s, old))
            self._last, self._last_at = dict(totals), now  # only once committed: a failed write is retried

    @staticmethod
    def _add(db: sqlite3.Connection, step_s: int, slot: int, endpoint_id: str, deployed_id: str, delta: Totals) -> None:
        key = (step_s, endpoint_id, slot, deployed_id)
        row = db.execute("SELECT requests, predictions, errors, buckets, model_buckets FROM slots WHERE step_s = ? "
                         "AND endpoint_id = ? AND t = ? AND deployed_model_id = ?", key).fetchone()  # fmt: skip
        if row is not None:
            buckets, inside = added(json.loads(row[3]), delta.buckets), added(json.loads(row[4]), delta.model_buckets)
            delta = Totals(row[0] + delta.requests, row[1] + delta.predictions, row[2] + delta.errors, buckets, inside)
        db.execute("INSERT OR REPLACE INTO slots (step_s, endpoint_id, t, deployed_model_id, requests, predictions, "
                   "errors, buckets, model_buckets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (*key, delta.requests, delta.predictions, delta.errors, json.dumps(delta.buckets),
                    json.dumps(delta.model_buckets)))  # fmt: skip

    def query(self, endpoint_id: str, window: str) -> dict[str, Any]:
        """Per deployed model: requests/s, predictions/s, error rate, p50 and p99 latency (ms), total and inside the
        model, in each slot of the
        window up to the last sample, oldest first; rates are 0 and the rest null in slots without requests."""
        seconds = WINDOWS[window]
        step = next(r.step_s for r in RESOLUTIONS if r.keep_s >= seconds)
        with self._db.lock:
            (newest,) = self._db.connection.execute(
                "SELECT MAX(t) FROM slots WHERE step_s = ? AND endpoint_id = ?", (step, endpoint_id)
            ).fetchone()
            # The slot the last sample filled (or a later one, written by the server before a quick restart).
            last = max(int((self._last_at - RESOLUTIONS[0].step_s / 2) // step) * step, newest or 0)
            times = list(range(last - seconds + step, last + step, step))
            rows = self._db.connection.execute(
                "SELECT t, deployed_model_id, requests, predictions, errors, buckets, model_buckets FROM slots "
                "WHERE step_s = ? AND endpoint_id = ? AND t >= ? ORDER BY deployed_model_id, t",
                (step, endpoint_id, times[0]),
            ).fetchall()
        series: dict[str, dict[str, list]] = {}
        for t, deployed_id, requests, predictions, errors, buckets, model_buckets in rows:
            columns = series.setdefault(deployed_id, empty_columns(len(times)))
            index, span = (t - times[0]) // step, self._covered(t, step)
            cumulative = json.loads(buckets)
            columns["requestsPerSecond"][index] = requests / span
            columns["predictionsPerSecond"][index] = predictions / span
            columns["errorRate"][index] = errors / requests
            columns["p50Ms"][index] = ms(quantile(0.5, self._bounds, cumulative))
            columns["p99Ms"][index] = ms(quantile(0.99, self._bounds, cumulative))
            inside = json.loads(model_buckets)
            columns["modelP50Ms"][index] = ms(quantile(0.5, self._bounds, inside))
            columns["modelP99Ms"][index] = ms(quantile(0.99, self._bounds, inside))
        return {"window": window, "stepSeconds": step, "times": times,
                "series": [{"deployedModelId": key, **columns} for key, columns in series.items()]}  # fmt: skip

    def _covered(self, slot: int, step: int) -> float:
        """Seconds of a slot the samples have covered: all of it, but for the slot still filling."""
        return max(float(RESOLUTIONS[0].step_s), min(float(step), self._last_at - slot))

    def sample(self) -> None:
        with self._sampling:  # read the counters inside the lock, so a later read is never recorded first
            self.record(self._source(), time.time())

    def start(self) -> None:
        """Sample at the end of every finest slot, off the event loop, until close()."""
        self._task = asyncio.create_task(self._sample_forever())

    async def _sample_forever(self) -> None:
        step = RESOLUTIONS[0].step_s
        while True:
            await asyncio.sleep(step - time.time() % step + SAMPLE_DELAY_S)
            try:
                await asyncio.to_thread(self.sample)
            except (sqlite3.Error, OSError):  # a full disk must not stop serving; the next sample retries
                LOG.exception("could not record the serving metrics' history")

    async def close(self) -> None:
        """Stop sampling, record what the counters grew by since the last sample, close the file."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(sqlite3.Error):
            await asyncio.to_thread(self.sample)
        self._db.close()


def empty_columns(length: int) -> dict[str, list]:
    return {"requestsPerSecond": [0.0] * length, "predictionsPerSecond": [0.0] * length,
            "errorRate": [None] * length, "p50Ms": [None] * length, "p99Ms": [None] * length,
            "modelP50Ms": [None] * length, "modelP99Ms": [None] * length}  # fmt: skip


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
