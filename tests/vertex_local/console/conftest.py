"""The console in a real headless Chromium (Playwright) against a vertex-local of its own, with real models.

console_server  session: a vertex-local with its own state, so its pages show only what these tests made
rollout         session: a demo-like release on it: v1 to production, v2 canaried at 10 %, promoted, v1 undeployed
browser, page   a Chromium (Debian's /usr/bin/chromium) for this package; a fresh context per test, failing on
                page errors

Release, console_url(), refresh_now() and shoot() (screenshots under out/console-screenshots/) are in
tests/support/console.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import tiers
from tests.support.console import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    SHA_V1,
    SHA_V2,
    UI_TIMEOUT_MS,
    Release,
    new_release,
    script_error,
)
from tests.support.vertex_local_server import VertexLocal, start_vertex_local


@pytest.fixture(scope="session")
@tiers.live
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    server = start_vertex_local(tmp_path_factory.mktemp("console") / "state")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def staged_model(console_server: VertexLocal, trained_model_dir: Path) -> str:
    return console_server.stage_model(trained_model_dir, "runs/console")


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
