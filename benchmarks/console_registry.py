"""bench-console's registry figures: the Model Registry's cold load with one version and with 50, for the console
of this tree and for the console before issue 23 (the same server code at --before, started from a git archive of
that commit), on the same data in the same run.

Each server gets two locations: one with a model of one version, one with a model of 50 versions, each version
with its own metrics.json (the trained model's, so the page reads real figures).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import requests

from benchmarks.serve_processes import REPO, ServerProcess, free_port

PROJECT = "bench-project"
BUCKET = "bench-bucket"
BEFORE = "a463910"  # the last commit before issue 23's console work (the issue's "today")
SIZES = {"us-east1": 1, "europe-west4": 50}  # location -> versions of its one model
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
USABLE = "() => performance.getEntriesByName('console-usable')[0]?.startTime"
TRANSFERRED = """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
  .reduce((total, entry) => total + entry.transferSize, 0)"""
REQUESTS = "() => performance.getEntriesByType('resource').length"


def archive(ref: str, dest: Path) -> Path:
    """The tree at `ref`, unpacked into dest (git archive: no working-tree changes)."""
    dest.mkdir(parents=True)
    tar_path = dest.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", str(tar_path), ref], cwd=REPO, check=True)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    return dest


def server(tree: Path, scratch: Path, name: str) -> tuple[ServerProcess, str]:
    """vertex-local from `tree` (its own code first on sys.path), on a free port with its own state."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = ["vertex_local", "serve", "--port", str(port), "--state-dir", str(scratch / f"{name}-state")]
    code = (f"import runpy, sys; sys.path.insert(0, {str(tree)!r}); sys.argv = {argv!r}; "
            "runpy.run_module('vertex_local', run_name='__main__', alter_sys=True)")  # fmt: skip
    process = ServerProcess(name, [sys.executable, "-c", code], f"{url}/healthz", scratch / f"{name}.log")
    process.start()
    return process, url


def populate(url: str, metrics: bytes) -> None:
    """The two locations' models over REST and the storage JSON API, as the SDK would make them."""
    session = requests.Session()
    session.post(f"{url}/storage/v1/b?project={PROJECT}", json={"name": BUCKET}, timeout=30)
    for location, versions in SIZES.items():
        parent, model = f"projects/{PROJECT}/locations/{location}", ""
        for number in range(1, versions + 1):
            name = f"{location}/{number}/model/metrics.json"
            upload = session.post(f"{url}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}",
                                  data=metrics, headers={"content-type": "application/json"}, timeout=30)  # fmt: skip
            upload.raise_for_status()
            artifact = f"gs://{BUCKET}/{location}/{number}/model"
            body = {"model": {"displayName": f"bench-{versions}", "artifactUri": artifact,
                              "containerSpec": {"imageUri": IMAGE}}}  # fmt: skip
            if model:
                body["parentModel"] = model
            operation = session.post(f"{url}/v1/{parent}/models:upload", json=body, timeout=30)
            operation.raise_for_status()
            model = done(session, url, operation.json())["model"]
    session.close()


def done(session: requests.Session, url: str, operation: dict) -> dict:
    deadline = time.monotonic() + 60
    while not operation.get("done"):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-console: operation {operation['name']} did not finish")
        time.sleep(0.05)
        operation = session.get(f"{url}/v1/{operation['name']}", timeout=30).json()
    return operation["response"]


def cold(browser, url: str, loads: int) -> tuple[float, float, int, int]:
    """Median and worst ms to usable, and the worst bytes and requests, over `loads` cold loads."""
    times, sizes, counts = [], [], []
    for _ in range(loads):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(USABLE, timeout=60_000)
        times.append(page.evaluate(USABLE))
        sizes.append(page.evaluate(TRANSFERRED))
        counts.append(page.evaluate(REQUESTS))
        context.close()
    return statistics.median(times), max(times), max(sizes), max(counts)


def registry_figures(browser, scratch: Path, metrics: bytes, loads: int, before: str = BEFORE) -> None:
    """Print the registry's cold loads, before and now, for one version and for 50."""
    trees = {f"before ({before})": archive(before, scratch / "before-tree"), "now (this tree)": REPO}
    print(
        f"\n{'Model Registry, cold':34} {'versions':>8} {'ms median':>10} {'ms worst':>9} {'bytes':>9} {'requests':>9}"
    )
    for label, tree in trees.items():
        process, url = server(tree, scratch, label.split()[0])
        try:
            populate(url, metrics)
            for location, versions in SIZES.items():
                page = f"{url}/console/?location=projects/{PROJECT}/locations/{location}#/models"
                median, worst, size, count = cold(browser, page, loads)
                print(f"{label:34} {versions:8} {median:10.0f} {worst:9.0f} {size:9,} {count:9}")
        finally:
            process.stop()
