"""Issue 23, defects 1-3: an empty server, keyboard focus across refreshes, a server that stops under an open page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.console import UI_TIMEOUT_MS, Release, console_url, install_clock, new_release, refresh_now
from tests.support.rest_client import HttpClient, create_endpoint
from tests.support.vertex_local_server import VertexLocal, start_vertex_local

MARK_LINK = "() => { document.activeElement.markedByTest = true; return document.activeElement.textContent; }"
STILL_MARKED = "() => document.activeElement.markedByTest === true"


def wait_for_refreshes(page: Any, count: int) -> None:
    """Until the page's refresh timers have landed `count` more refreshes (main.js counts them on the view), one at
    a time, each fired at once by refresh_now() rather than when its interval comes round."""
    for _ in range(count):
        before = int(page.locator("#view").get_attribute("data-refreshes") or 0)
        refresh_now(page)
        page.wait_for_function(
            "target => Number(document.getElementById('view').dataset.refreshes || 0) >= target", arg=before + 1
        )


@pytest.mark.live
def test_an_empty_server_says_nothing_here_yet_and_the_picker_fills_in_when_a_project_appears(
    page: Any, tmp_path: Path
) -> None:
    server = start_vertex_local(tmp_path / "state")
    try:
        install_clock(page)
        page.goto(f"{server.url}/console/#/models")
        expect(page.locator("main h1")).to_have_text("Nothing here yet")
        expect(page.get_by_text("Something went wrong")).to_have_count(0)
        expect(page).to_have_title("Nothing here yet · vertex-local console")
        create_endpoint(HttpClient(server.url), server, "first-endpoint")  # the page is not reloaded
        refresh_now(page)
        expect(page.locator("#location option")).to_have_text([server.parent], timeout=UI_TIMEOUT_MS)
        expect(page.locator("main h1")).to_have_text("Model Registry")
        page.get_by_role("link", name="Endpoints").click()
        expect(page.locator("main")).to_contain_text("first-endpoint")
    finally:
        server.stop()


def test_keyboard_focus_stays_on_an_endpoint_link_while_the_list_refreshes(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    install_clock(page)
    page.goto(console_url(console_server, "/endpoints"))
    link = page.get_by_role("link", name="mnist-endpoint")
    link.focus()
    assert page.evaluate(MARK_LINK) == "mnist-endpoint"
    wait_for_refreshes(page, 3)  # each refresh used to rebuild the card holding the link
    assert page.evaluate(STILL_MARKED)
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_contain_text(f"endpoint {rollout.endpoint_id}")


def test_focus_stays_on_the_endpoint_page_while_its_split_refreshes(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    install_clock(page)
    page.goto(console_url(console_server, f"/endpoints/{rollout.endpoint_id}"))
    version_link = page.locator("tr[data-deployed-model-id] a").first
    version_link.focus()
    page.evaluate(MARK_LINK)
    wait_for_refreshes(page, 3)
    assert page.evaluate(STILL_MARKED)


def test_a_slow_click_on_an_endpoint_link_lands_even_when_a_refresh_falls_between_press_and_release(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    install_clock(page)
    page.goto(console_url(console_server, "/endpoints"))
    link = page.get_by_role("link", name="mnist-endpoint")
    box = link.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.mouse.down()
    wait_for_refreshes(page, 1)
    page.mouse.up()
    expect(page.locator("main h1")).to_contain_text(f"endpoint {rollout.endpoint_id}")


def test_a_stopped_server_shows_a_banner_marks_the_charts_stale_and_navigation_gives_a_hint(
    page: Any, tmp_path: Path, trained_model_dir: Path
) -> None:
    server = start_vertex_local(tmp_path / "state")
    stopped = False
    try:
        release = new_release(server, "stopping")
        release.deploy(release.register(server.stage_model(trained_model_dir, "runs/stopping"), "5a5a5a5a5a5a"), 100)
        install_clock(page)
        page.goto(console_url(server, f"/endpoints/{release.endpoint_id}"))
        expect(page.locator("figure.chart").first).to_be_visible()
        expect(page.locator("#offline")).to_be_hidden()
        server.stop()
        stopped = True
        refresh_now(page)
        expect(page.locator("#offline")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.locator("#offline")).to_contain_text("vertex-local is not answering")
        expect(page.locator("body.stale figure.chart").first).to_be_visible()
        page.get_by_role("link", name="Model Registry").click()
        expect(page.locator("main h1")).to_have_text("vertex-local is not answering")
        expect(page.locator("main .error")).to_contain_text("make up")
    finally:
        if not stopped:
            server.stop()


def test_each_page_change_sets_the_title_and_is_announced(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, "/models"))
    expect(page).to_have_title("Model Registry · vertex-local console")
    expect(page.locator("#announce")).to_have_attribute("aria-live", "polite")
    page.get_by_role("link", name="Endpoints").click()
    expect(page).to_have_title("Endpoints · vertex-local console")
    expect(page.locator("#announce")).to_have_text("Endpoints page loaded")


def test_the_test_tabs_endpoint_picker_gains_an_endpoint_that_starts_serving(
    page: Any, console_server: VertexLocal, rollout: Release, staged_model: str
) -> None:
    install_clock(page)
    page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
    expect(page.locator("#endpoint")).to_have_value(rollout.endpoint_id)
    release = new_release(console_server, "late-comer")
    release.deploy(release.register(staged_model, "1a7ec0e10000"), 100)  # the page is not reloaded
    refresh_now(page)
    expect(page.locator(f"#endpoint option[value='{release.endpoint_id}']")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#endpoint")).to_have_value(rollout.endpoint_id)  # the choice is kept
