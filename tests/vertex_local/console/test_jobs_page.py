"""Issue 13, item 5: custom jobs: state, times, command and args, the AIP_* environment, and the log's tail."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from playwright.sync_api import expect

from tests.support.console import console_url, shoot
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal

LINES = 30_000  # about 400 KB of log: the page shows its tail, never all of it
SCRIPT = f"import os; [print('line', i, os.environ['GREETING']) for i in range({LINES})]"


def test_a_job_page_shows_its_state_command_environment_and_the_tail_of_a_long_log(
    page: Any, console_server: VertexLocal
) -> None:
    spec = {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                                 "containerSpec": {"imageUri": "local/trainer:test", "command": [sys.executable, "-c"],
                                                   "args": [SCRIPT], "env": [{"name": "GREETING", "value": "hello"}]}}],
            "baseOutputDirectory": {"outputUriPrefix": f"gs://{console_server.bucket}/jobs/console"}}  # fmt: skip
    answer = HttpClient(console_server.url).json(
        "POST", f"/v1/{console_server.parent}/customJobs", {"displayName": "console-job", "jobSpec": spec}
    )
    assert answer.status == 200, answer.body
    job_id = answer.json()["name"].rsplit("/", 1)[1]
    page.goto(console_url(console_server, "/jobs"))
    page.get_by_role("link", name="console-job").first.click()  # the list links to the job's page
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "JOB_STATE_SUCCEEDED", timeout=60_000)
    expect(page.locator("h1")).to_contain_text(f"job {job_id}")
    expect(page.locator("code.argv").first).to_have_text(shlex.join([sys.executable, "-c"]))
    expect(page.locator("code.argv").nth(1)).to_have_text(shlex.quote(SCRIPT))  # as a shell would read it back
    expect(page.locator("code.argv").nth(2)).to_have_text("GREETING=hello")
    environment = page.locator("#aip-env").inner_text()
    assert f"CLOUD_ML_JOB_ID={job_id}" in environment
    assert "AIP_MODEL_DIR=" in environment and environment.count("/jobs/console/") == 3
    expect(page.locator("#log")).to_contain_text(f"line {LINES - 1} hello")
    log = page.locator("#log").inner_text()
    assert "line 0 hello" not in log and len(log) <= 64 * 1024
    shoot(page, "job")
    page.get_by_role("link", name="Custom jobs").first.click()
    expect(page.locator(f"tr[data-job='{job_id}'] [data-state]")).to_have_text("SUCCEEDED")
