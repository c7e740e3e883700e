"""Issue 13, item 6: `make demo KEEP=1` ends by printing the console's URL, and the console is up there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scripts import demo
from tests.support.console import shoot
from tests.support.pipeline_steps import GITHUB_VARIABLES, step
from tests.support.vertex_local_server import PROJECT, free_port
from vertex_local import daemon

TINY_TRAINING = {"TRAINING_DATASET": "mnist-sample", "TRAINING_MODEL": "baseline", "TRAINING_EPOCHS": "3",
                 "GATE_MIN_ACCURACY": "0.8", "SMOKE_MIN_ACCURACY": "0.8", "VERTEX_JOB_POLL_SECONDS": "0.2"}  # fmt: skip


@pytest.fixture
def demo_settings(monkeypatch: pytest.MonkeyPatch) -> str:
    """The local profile, pointed at a port where nothing answers yet, so the demo starts its own vertex-local."""
    url = f"http://127.0.0.1:{free_port()}"
    for name in [*GITHUB_VARIABLES, *(key for key in os.environ if key.startswith("PIPELINE_"))]:
        monkeypatch.delenv(name, raising=False)
    settings = {"PROFILE": "local", "VERTEX_PROJECT": PROJECT, "VERTEX_API_ENDPOINT": url,
                "VERTEX_STORAGE_EMULATOR_HOST": url, **TINY_TRAINING}  # fmt: skip
    for key, value in settings.items():
        monkeypatch.setenv(f"PIPELINE_{key}", value)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    return url


@pytest.mark.live
@pytest.mark.slow
def test_make_demo_keep_ends_with_the_console_url_and_leaves_the_console_up(
    page: Any, demo_settings: str, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    try:
        result = step(demo.main, "--keep", "--state-dir", str(state_dir), "--out-dir", str(tmp_path / "out"))
        assert result.status == 0, result.stderr
        assert result.stdout.splitlines()[-1] == f"console: {demo_settings}/console/"
        page.goto(f"{demo_settings}/console/#/models")
        expect(page.locator(".alias", has_text="production")).to_have_count(1)
        page.get_by_role("link", name="Test your model").click()
        page.get_by_role("button", name="Test digit 7").click()
        expect(page.locator("#predicted")).to_have_text("7")
        shoot(page, "demo-test-tab")
    finally:
        daemon.stop(state_dir)
