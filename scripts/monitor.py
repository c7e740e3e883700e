"""A live table of an endpoint's serving figures, as the Vertex console charts them: python -m scripts.monitor

    python -m scripts.monitor --url http://127.0.0.1:8080 [--endpoint ID] [--interval 1] [--once | --count N]

Every interval it scrapes vertex-local's /metrics and prints, per endpoint and deployed model, requests/s,
predictions/s, error rate and p50 / p99 latency over that interval. The figures come from the deltas of
the Prometheus counters and latency histogram buckets between two scrapes, as Prometheus's rate() and
histogram_quantile() compute them. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence

import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts.core.step_runner import Environ, StepError, StepResult, UsageError, run_main

STEP = "monitor"
PREFIX = "vertex_local_"
COUNTERS = {"prediction_requests_total": "requests", "predictions_total": "predictions",
            "prediction_errors_total": "errors"}  # fmt: skip
BUCKET = PREFIX + "prediction_latency_seconds_bucket"
CLEAR_SCREEN = "\x1b[H\x1b[2J"
SCRAPE_TIMEOUT_S = 5.0

Key = tuple[str, str]  # (endpoint id, deployed model id)


@dataclasses.dataclass(frozen=True)
class Series:
    """One deployed model's counters at one scrape (or their growth between two)."""

    requests: float = 0.0
    predictions: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound in seconds, cumulative count), +Inf last


@dataclasses.dataclass(frozen=True)
class Row:
    endpoint_id: str
    deployed_model_id: str
    requests_per_s: float
    predictions_per_s: float
    error_rate: float | None  # None: no requests in the interval
    p50_ms: float | None
    p99_ms: float | None


def parse_metrics(text: str) -> dict[Key, Series]:
    """The prediction series of a /metrics page, by (endpoint id, deployed model id)."""
    fields: dict[Key, dict[str, float]] = {}
    buckets: dict[Key, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.labels.get("endpoint_id", ""), sample.labels.get("deployed_model_id", ""))
            name = sample.name.removeprefix(PREFIX)
            if name in COUNTERS:
                fields.setdefault(key, {})[COUNTERS[name]] = sample.value
            elif sample.name == BUCKET:
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    keys = set(fields) | set(buckets)
    return {key: Series(**fields.get(key, {}), buckets=tuple(sorted(buckets.get(key, [])))) for key in keys}


def growth(now: Series, before: Series | None) -> Series:
    """What happened between two scrapes; a counter that went down was reset (a restart), so counts from 0."""
    if before is None or now.requests < before.requests:
        return now
    earlier = dict(before.buckets)
    return Series(
        requests=now.requests - before.requests,
        predictions=now.predictions - before.predictions,
        errors=now.errors - before.errors,
        buckets=tuple((bound, count - earlier.get(bound, 0.0)) for bound, count in now.buckets),
    )


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile (seconds) of cumulative histogram buckets, interpolated linearly inside the bucket it
    falls in, as Prometheus's histogram_quantile(); None when the buckets hold no observation."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):  # beyond the largest finite bucket: that bound is all that is known
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-12)
        lower_bound, lower_count = bound, count
    return lower_bound


def rows(before: dict[Key, Series], now: dict[Key, Series], seconds: float, endpoint: str | None) -> list[Row]:
    """One row per deployed model (of `endpoint`, when given) over the `seconds` between two scrapes."""
    found = []
    for key in sorted(now, key=lambda k: (k[0].zfill(20), k[1].zfill(20))):
        if endpoint and key[0] != endpoint:
            continue
        delta = growth(now[key], before.get(key))
        p50, p99 = quantile(0.5, delta.buckets), quantile(0.99, delta.buckets)
        found.append(Row(
            endpoint_id=key[0], deployed_model_id=key[1],
            requests_per_s=delta.requests / seconds, predictions_per_s=delta.predictions / seconds,
            error_rate=delta.errors / delta.requests if delta.requests else None,
            p50_ms=None if p50 is None else p50 * 1000, p99_ms=None if p99 is None else p99 * 1000,
        ))  # fmt: skip
    return found


def render(table: list[Row], seconds: float, clock: str) -> str:
    """The table as text; '-' where an interval had no requests."""

    def number(value: float | None, scale: float = 1.0, suffix: str = "") -> str:
        return "-" if value is None else f"{value * scale:.1f}{suffix}"

    lines = [f"{clock}  over the last {seconds:.1f} s",
             f"{'endpoint':<12} {'deployed model':<16} {'req/s':>9} {'pred/s':>9} {'errors':>8} "
             f"{'p50 ms':>8} {'p99 ms':>8}"]  # fmt: skip
    for row in table:
        lines.append(
            f"{row.endpoint_id:<12} {row.deployed_model_id:<16} {row.requests_per_s:>9.1f} "
            f"{row.predictions_per_s:>9.1f} {number(row.error_rate, 100, ' %'):>8} "
            f"{number(row.p50_ms):>8} {number(row.p99_ms):>8}"
        )
    if not table:
        lines.append("(no predictions yet)")
    return "\n".join(lines)


def scrape(session: requests.Session, url: str) -> dict[Key, Series]:
    answer = session.get(f"{url.rstrip('/')}/metrics", timeout=SCRAPE_TIMEOUT_S)
    answer.raise_for_status()
    return parse_metrics(answer.text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="vertex-local's address")
    parser.add_argument("--endpoint", help="only this endpoint (its id or resource name)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--once", action="store_true", help="print one table (after one interval) and exit")
    stop.add_argument("--count", type=int, help="print this many tables and exit")
    return parser


def watch(args: argparse.Namespace, tables: int | None) -> None:
    """Scrape, wait, scrape, print; `tables` times, or until interrupted when None."""
    endpoint = args.endpoint.rsplit("/", 1)[-1] if args.endpoint else None
    clear = CLEAR_SCREEN if sys.stdout.isatty() else ""
    with requests.Session() as session:
        before, then = scrape(session, args.url), time.monotonic()
        printed = 0
        while tables is None or printed < tables:
            time.sleep(args.interval)
            now, moment = scrape(session, args.url), time.monotonic()
            table = rows(before, now, moment - then, endpoint)
            print(clear + render(table, moment - then, time.strftime("%H:%M:%S")), end="\n\n", flush=True)
            before, then, printed = now, moment, printed + 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    """Print the tables until done or interrupted (Ctrl-C is a normal end); StepError when a scrape fails."""
    if args.interval <= 0 or (args.count is not None and args.count < 1):
        raise UsageError("--interval must be positive and --count at least 1")
    try:
        watch(args, 1 if args.once else args.count)
    except KeyboardInterrupt:
        pass
    except requests.RequestException as exc:
        raise StepError(f"cannot scrape {args.url}/metrics: {exc}") from None
    return StepResult()


if __name__ == "__main__":
    raise SystemExit(main())
