"""The console in a real headless Chromium: where Chromium is and how it starts, a demo-like Release over REST,
console_url(), shoot() (a screenshot under out/console-screenshots/), and the console's bundled digits."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from tests.support.rest_client import SERVING_IMAGE, HttpClient, create_endpoint, deploy, wait_for_operation
from tests.support.vertex_local_server import REPO_ROOT, VertexLocal

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's, as `make browser` installs it


# Flags that work in this sandbox; Playwright adds --headless and a fresh temporary --user-data-dir itself.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


SCREENSHOTS = REPO_ROOT / "out" / "console-screenshots"


SHA_V1, SHA_V2 = "1a2b3c4d5e6f", "7a8b9c0d1e2f"


UI_TIMEOUT_MS = 30_000  # how long a page may take to show a change; a busy 2-core machine is slow


# The console's longest refresh interval (models.js and test.js: 5 s; main.js's project picker: 3 s; jobs.js: 2 s,
# endpoints.js: 1 s): a jump of the page's clock by this much makes every refresh timer due.
LONGEST_REFRESH_MS = 5_000


@dataclasses.dataclass
class Release:
    """REST steps of a demo run, on one model and one endpoint."""

    server: VertexLocal
    client: HttpClient
    name: str
    model: str = ""
    endpoint_id: str = ""
    deployed: dict[str, str] = dataclasses.field(default_factory=dict)  # version id -> deployed model id

    def register(self, artifact_uri: str, sha: str) -> str:
        """A new version with labels and a sha- alias; `candidate` moves onto it. Returns its version id."""
        body: dict[str, Any] = {"model": {"displayName": self.name, "artifactUri": artifact_uri,
                                          "containerSpec": {"imageUri": SERVING_IMAGE},
                                          "labels": {"git_sha": sha, "dataset": "mnist-sample"},
                                          "versionAliases": [f"sha-{sha}"]}}  # fmt: skip
        if self.model:
            body["parentModel"] = self.model
        answer = self.client.json("POST", f"/v1/{self.server.parent}/models:upload", body)
        assert answer.status == 200, answer.body
        response = wait_for_operation(self.client, answer.json())
        self.model = response["model"]
        self.alias(response["modelVersionId"], "candidate")
        return response["modelVersionId"]

    def alias(self, version: str, alias: str) -> None:
        path = f"/v1/{self.model}@{version}:mergeVersionAliases"
        answer = self.client.json("POST", path, {"versionAliases": [alias]})
        assert answer.status == 200, answer.body

    def deploy(self, version: str, percent: int) -> str:
        """Deploy a version beside the others: it takes `percent`, the rest keep the remainder."""
        if not self.endpoint_id:
            self.endpoint_id = create_endpoint(self.client, self.server, f"{self.name}-endpoint")
        split = {"0": percent, **{deployed: 100 - percent for deployed in self.deployed.values()}}
        self.deployed[version] = deploy(self.client, self.server, self.endpoint_id, f"{self.model}@{version}", split)
        return self.deployed[version]

    def promote(self, version: str) -> None:
        """100 % to the version, `production` onto it, the others undeployed: the end of a canary."""
        split = {deployed: 100 if v == version else 0 for v, deployed in self.deployed.items()}
        path = f"/v1/{self.server.parent}/endpoints/{self.endpoint_id}?updateMask=trafficSplit"
        answer = self.client.json("PATCH", path, {"trafficSplit": split})
        assert answer.status == 200, answer.body
        self.alias(version, "production")
        for old in [v for v in self.deployed if v != version]:
            body = {"deployedModelId": self.deployed.pop(old)}
            answer = self.client.json("POST", f"/v1/{self.server.parent}/endpoints/{self.endpoint_id}:undeployModel",
                                      body)  # fmt: skip
            assert answer.status == 200, answer.body
            wait_for_operation(self.client, answer.json())

    def predict_path(self) -> str:
        return f"/v1/{self.server.parent}/endpoints/{self.endpoint_id}:predict"


def new_release(server: VertexLocal, name: str) -> Release:
    return Release(server, HttpClient(server.url), name)


def script_error(message: Any) -> bool:
    """An error the console's code logged; Chromium's own line for each 4xx answer is not one (tests send some)."""
    return message.type == "error" and not message.text.startswith("Failed to load resource")


def console_url(server: VertexLocal, hash_path: str = "") -> str:
    return f"{server.url}/console/?location={server.parent}#{hash_path}"


def install_clock(page: Any) -> None:
    """Before the page opens the console: a clock of Playwright's in the page, running at real speed, that
    refresh_now() can move ahead. It fakes `performance` too (no entries), so the page-weight test does without it."""
    page.clock.install()


def refresh_now(page: Any) -> None:
    """Fire each of the page's refresh timers once now instead of when its interval comes round: the page's clock
    (install_clock()) jumps ahead. The refreshes themselves are real, their requests answered by the server; one
    that falls while a refresh is still in flight is skipped, as it would be in use, and the timers keep firing at
    their own pace after the jump."""
    page.clock.fast_forward(LONGEST_REFRESH_MS)


def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot, kept as a test artifact under out/console-screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


DIGITS_FILE = REPO_ROOT / "vertex_local" / "console" / "static" / "digits.json"
