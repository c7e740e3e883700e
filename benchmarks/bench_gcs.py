"""Cloud Storage upload figures from one run on this machine: python -m benchmarks.bench_gcs [--downloads]

A fresh vertex-local (its own process and state dir) takes bursts of concurrent multipart uploads of the largest
multipart body (32 MiB); for each burst: the server's peak resident memory above where it stood before, and the
upload throughput. The baseline is one upload alone, in the same run. "If buffered" is what holding every body in
memory at once would take. Then the same google-cloud-storage calls against vertex-local and fake-gcs-server side
by side (benchmarks/gcs_compare.py). The load average is printed first: on a shared machine, read the ratios.
Results are printed and saved to .bench/gcs.json; the previous run's peak and ratios are shown. With --downloads,
only the two download figures beside fake-gcs-server (a quick A/B of the download path), not saved.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.gcs_compare import compare
from benchmarks.gcs_compare import report as report_compare
from benchmarks.gcs_uploads import MIB, multipart_body, peak_growth_mib
from benchmarks.serve_processes import REPO, ServerProcess, free_port
from vertex_local.http.bodies import MAX_MULTIPART_BODY_BYTES

RESULTS = REPO / ".bench" / "gcs.json"
BURSTS = (1, 4, 16)
BUCKET = "bench-bucket"
TARGET_PEAK_MIB = 64  # for 16 concurrent uploads: what the bound asks (was 761 MB)


def measure(server: ServerProcess, url: str, media: bytes) -> list[dict]:
    rows = []
    for count in BURSTS:
        started = time.perf_counter()
        growth, statuses = peak_growth_mib(server.process.pid, url, BUCKET, count, media, f"burst-{count}")
        seconds = time.perf_counter() - started
        if statuses != [200] * count:
            raise SystemExit(f"bench-gcs: uploads answered {statuses}:\n{server.tail()}")
        rows.append({"uploads": count, "peak_mib": round(growth, 1), "seconds": round(seconds, 2),
                     "mib_per_s": round(count * len(media) / MIB / seconds, 1)})  # fmt: skip
    return rows


def report(rows: list[dict], media_mib: float, previous: dict) -> None:
    base = rows[0]
    print(f"{'burst of 32 MiB multipart uploads':36} {'peak RSS':>10} {'if buffered':>12} {'MiB/s':>8}  previous")
    for row in rows:
        before = previous.get(str(row["uploads"]))
        label = f"{row['uploads']} at once" + (" (baseline)" if row is base else "")
        print(f"{label:36} {row['peak_mib']:>8.1f} M {row['uploads'] * media_mib:>10.0f} M {row['mib_per_s']:>8.1f}  "
              f"{'-' if before is None else f'{before:.1f} M'}")  # fmt: skip
    last = rows[-1]
    verdict = "met" if last["peak_mib"] <= TARGET_PEAK_MIB else "MISSED"
    goal = f"{last['uploads']} uploads peak <= {TARGET_PEAK_MIB} MiB"
    print(f"\ntarget: {verdict:6} {goal}   measured {last['peak_mib']} MiB")


def main(argv: list[str] | None = None) -> int:
    print(f"load average {' '.join(f'{load:.2f}' for load in os.getloadavg())} on {os.cpu_count()} cores\n")
    if "--downloads" in (sys.argv[1:] if argv is None else argv):  # the two download figures only; nothing saved
        with tempfile.TemporaryDirectory(prefix="bench-gcs-") as scratch:
            report_compare(compare(Path(scratch), downloads_only=True), {})
        return 0
    media = os.urandom(MAX_MULTIPART_BODY_BYTES - len(multipart_body("burst-16/15", b"")[0]))
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="bench-gcs-") as scratch:
        port = free_port()
        command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(port), "--state-dir", scratch + "/s"]
        url = f"http://127.0.0.1:{port}"
        server = ServerProcess("vertex-local", command, f"{url}/healthz", Path(scratch) / "server.log")
        server.start()
        try:
            requests.post(f"{url}/storage/v1/b?project=bench", json={"name": BUCKET}, timeout=10).raise_for_status()
            rows = measure(server, url, media)
        finally:
            server.stop()
        medians = compare(Path(scratch))
    report(rows, len(media) / MIB, {str(k): v for k, v in previous.get("peaks", {}).items()})
    report_compare(medians, previous.get("compare", {}))
    RESULTS.parent.mkdir(exist_ok=True)
    peaks = {row["uploads"]: row["peak_mib"] for row in rows}
    saved = {"cores": os.cpu_count(), "load": os.getloadavg(), "runs": rows, "peaks": peaks, "compare": medians}
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"saved to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
