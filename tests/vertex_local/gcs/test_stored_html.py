"""Stored HTML cannot script the API (issue 18, item 1), proven in a real Chromium.

The attack: anything that can write an object (a training job, a pull request's code on the runner, any local
process) stores a page whose script calls the API; any site then sends the user's browser to the object's
download URL. Served inline from the API's origin, the script's POST carried that origin and the guard let it
create a customJob, which runs a command. Now the page is an attachment, sandboxed and never sniffed: Chromium
downloads it and no script runs. The script uses a synchronous XHR, so had it run, the job would exist by the
time the navigation ends: no waiting stands in for it.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_stored_html.py
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.console import CHROMIUM, CHROMIUM_FLAGS, UI_TIMEOUT_MS
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal

PAGE = """<!doctype html><html><head><title>stored page</title></head><body><script>
document.title = "script ran";
const job = {displayName: "planted", jobSpec: {workerPoolSpecs: [{machineSpec: {machineType: "n1-standard-4"},
  replicaCount: 1, containerSpec: {imageUri: "local/true", command: ["true"]}}]}};
const xhr = new XMLHttpRequest();
xhr.open("POST", "/v1/projects/PROJECT/locations/us-central1/customJobs", false);
xhr.setRequestHeader("content-type", "application/json");
xhr.send(JSON.stringify(job));
document.title = "job " + xhr.status;
</script></body></html>"""
# How the page can be stored and fetched: (content type, content encoding, download route).
CASES = {
    "html via alt=media": ("text/html", None, "/storage/v1/b/{bucket}/o/{name}?alt=media"),
    "html via /download/": ("text/html; charset=utf-8", None, "/download/storage/v1/b/{bucket}/o/{name}?alt=media"),
    "xhtml": ("application/xhtml+xml", None, "/storage/v1/b/{bucket}/o/{name}?alt=media"),
    "svg": ("image/svg+xml", None, "/storage/v1/b/{bucket}/o/{name}?alt=media"),
    "gzipped html, inflated": ("text/html", "gzip", "/storage/v1/b/{bucket}/o/{name}?alt=media"),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


def planted_page(project: str, content_type: str) -> str:
    page = PAGE.replace("PROJECT", project)
    if content_type == "image/svg+xml":  # the same script, in the SVG form of an active document
        script = page.split("<script>")[1].split("</script>")[0]
        return f'<svg xmlns="http://www.w3.org/2000/svg"><script><![CDATA[{script}]]></script></svg>'
    return page


@pytest.mark.parametrize("case", CASES)
def test_a_stored_page_opened_in_chromium_is_downloaded_and_its_script_never_runs(
    vertex_local: VertexLocal, browser: Any, case: str
) -> None:
    from playwright.sync_api import Error as PlaywrightError

    content_type, encoding, route = CASES[case]
    project, name = f"planted-{uuid.uuid4().hex[:8]}", f"stored-html/{uuid.uuid4().hex}"
    data = planted_page(project, content_type).encode()
    blob = vertex_local.storage_client().bucket(vertex_local.bucket).blob(name)
    blob.content_encoding = encoding
    blob.upload_from_string(gzip.compress(data) if encoding else data, content_type=content_type)
    url = vertex_local.url + route.format(bucket=vertex_local.bucket, name=quote(name, safe=""))
    client = HttpClient(vertex_local.url)
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        with page.expect_download() as download:
            try:
                page.goto(url, wait_until="load")  # a top-level navigation, as a link from any site makes
                shown = page.title()
            except PlaywrightError as exc:  # Chromium turned the navigation into a download
                shown = f"not shown ({str(exc).splitlines()[0]})"
            jobs = client.request("GET", f"/v1/projects/{project}/locations/us-central1/customJobs").json()
            assert jobs.get("customJobs", []) == [], f"the stored page's script created a job (title {shown!r})"
            assert shown.startswith("not shown"), f"Chromium rendered the stored page: title {shown!r}"
        saved = download.value.path()
        assert saved is not None and Path(saved).read_bytes() == data  # the bytes, inflated, as a file
    finally:
        context.close()
        client.close()
