"""The console in a real headless Chromium (Playwright) against a vertex-local of its own, with real models.

console_server  session: a vertex-local with its own state, so its pages show only what these tests made
rollout         session: a demo-like release on it: v1 to production, v2 canaried at 10 %, promoted, v1 undeployed
browser, page   a Chromium (Debian's /usr/bin/chromium) for this package; a fresh context per test, failing on
                page errors
shoot(page, name)  saves a screenshot to out/console-screenshots/<name>.png (the test artifacts)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, VertexLocal, start_vertex_local
from tests.support import tiers
from tests.support.rest_client import HttpClient, create_endpoint, deploy, wait_for_operation

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's, as `make browser` installs it
# Flags that work in this sandbox; Playwright adds --headless and a fresh temporary --user-data-dir itself.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOTS = REPO_ROOT / "out" / "console-screenshots"
SHA_V1, SHA_V2 = "1a2b3c4d5e6f", "7a8b9c0d1e2f"
UI_TIMEOUT_MS = 30_000  # how long a page may take to show a change; a busy 2-core machine is slow


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
                                          "containerSpec": {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/"
                                                                        "tf2-cpu.2-15:latest"},
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


@pytest.fixture(scope="session")
@tiers.live
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    server = start_vertex_local(tmp_path_factory.mktemp("console") / "state")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def staged_model(console_server: VertexLocal, trained_model_dir: Path) -> str:
    return console_server.stage_model(trained_model_dir, "runs/console")


def new_release(server: VertexLocal, name: str) -> Release:
    return Release(server, HttpClient(server.url), name)


@pytest.fixture(scope="session")
def rollout(console_server: VertexLocal, staged_model: str) -> Release:
    """v1 released to production, then v2 canaried at 10 % beside it, promoted, and v1 undeployed."""
    release = new_release(console_server, "mnist")
    first = release.register(staged_model, SHA_V1)
    release.deploy(first, 100)
    release.alias(first, "production")
    second = release.register(staged_model, SHA_V2)
    release.deploy(second, 10)
    release.promote(second)
    return release


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package-scoped: Playwright's sync API keeps an event loop running in this thread while it is open, and
    later tests call asyncio.run() (tests/vertex_local/http)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (no cache, no storage); the test fails on any script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(message.text) if script_error(message) else None)
    yield page
    context.close()
    assert errors == [], errors


def script_error(message: Any) -> bool:
    """An error the console's code logged; Chromium's own line for each 4xx answer is not one (tests send some)."""
    return message.type == "error" and not message.text.startswith("Failed to load resource")


def console_url(server: VertexLocal, hash_path: str = "") -> str:
    return f"{server.url}/console/?location={server.parent}#{hash_path}"


def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot, kept as a test artifact under out/console-screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
