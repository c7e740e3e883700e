"""Issue 13, items 2 and 3: endpoints with their deployed models and live traffic split; the monitoring charts."""

from __future__ import annotations

import re
import threading
from typing import Any

from playwright.sync_api import expect

from tests.support.console import Release, console_url, install_clock, new_release, refresh_now, shoot
from tests.support.rest_client import HttpClient, predict_body
from tests.support.vertex_local_server import VertexLocal

LOAD_DEADLINE_S = 90.0  # the load stops by itself, whatever the page does
BAD_BODY = b'{"instances": [[1, 2, 3]]}'


def shares(page: Any) -> dict[str, str]:
    """The split the page shows: deployed model id -> percent, read from the traffic legend."""
    items = page.locator("[data-testid=traffic] li")
    return {item.get_attribute("data-deployed-model-id"): item.get_attribute("data-share") for item in items.all()}


def test_the_endpoint_page_shows_the_traffic_split_change_live_during_a_canary(
    page: Any, console_server: VertexLocal, staged_model: str
) -> None:
    release = new_release(console_server, "canary")
    first = release.register(staged_model, "c1c1c1c1c1c1")
    old = release.deploy(first, 100)
    install_clock(page)
    page.goto(console_url(console_server, f"/endpoints/{release.endpoint_id}"))
    legend = page.locator("[data-testid=traffic]")
    expect(legend.locator("li")).to_have_count(1)
    expect(legend.locator(f"li[data-deployed-model-id='{old}']")).to_have_attribute("data-share", "100")

    new = release.deploy(release.register(staged_model, "c2c2c2c2c2c2"), 10)  # the page is not reloaded
    refresh_now(page)
    expect(legend.locator(f"li[data-deployed-model-id='{new}']")).to_have_attribute("data-share", "10")
    expect(legend.locator(f"li[data-deployed-model-id='{old}']")).to_have_attribute("data-share", "90")
    expect(page.locator(f".traffic .segment[data-deployed-model-id='{new}']")).to_have_text("10 %")
    expect(page.locator(f"tr[data-deployed-model-id='{new}']")).to_contain_text("v2")
    shoot(page, "endpoint-canary")

    release.promote("2")
    refresh_now(page)
    expect(legend.locator("li")).to_have_count(1)
    expect(legend.locator(f"li[data-deployed-model-id='{new}']")).to_have_attribute("data-share", "100")
    expect(page.locator(".traffic .segment")).to_have_text(["100 %"])


def test_the_endpoints_list_shows_each_deployed_model_with_its_machine_replicas_and_share(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, "/endpoints"))
    (deployed,) = rollout.deployed.values()
    card = page.locator(f"[data-endpoint='{rollout.endpoint_id}']")
    expect(card).to_contain_text("mnist-endpoint")
    expect(card.locator(f"li[data-deployed-model-id='{deployed}']")).to_have_attribute("data-share", "100")
    card.get_by_role("link", name="mnist-endpoint").click()
    row = page.locator(f"tr[data-deployed-model-id='{deployed}']")
    expect(row.locator("td")).to_have_text([deployed, "mnist v2", "n1-standard-2", "1 to 1", "100 %", re.compile(".+")])


def predict_until(stop: threading.Event, server: VertexLocal, path: str, bodies: list[bytes]) -> None:
    """A short load: good requests with a bad one now and then, until told to stop or the deadline passes."""
    client = HttpClient(server.url)
    deadline = threading.Timer(LOAD_DEADLINE_S, stop.set)
    deadline.start()
    try:
        sent = 0
        while not stop.is_set() and sent < 20_000:
            body = BAD_BODY if sent % 10 == 9 else bodies[sent % len(bodies)]
            client.request("POST", path, body, {"content-type": "application/json"})
            sent += 1
    finally:
        deadline.cancel()
        client.close()


def test_the_charts_show_predictions_requests_errors_and_latency_under_a_short_load(
    page: Any, console_server: VertexLocal, rollout: Release, mnist_test_digits
) -> None:
    (deployed,) = rollout.deployed.values()
    page.goto(console_url(console_server, f"/endpoints/{rollout.endpoint_id}"))
    page.get_by_label("Time window").select_option("5m")
    bodies = [predict_body(mnist_test_digits[0][i : i + 4]) for i in range(0, 40, 4)]
    stop = threading.Event()
    load = threading.Thread(target=predict_until, args=(stop, console_server, rollout.predict_path(), bodies))
    load.start()
    try:
        peak = "figure[data-metric='{}'] li[data-series='deployed model " + deployed + "']"
        for metric in ("predictionsPerSecond", "requestsPerSecond", "errorRate", "p50Ms", "p99Ms"):
            page.wait_for_function(
                "selector => Number(document.querySelector(selector)?.dataset.peak) > 0",
                arg=peak.format(metric),
                timeout=60_000,
            )
    finally:
        stop.set()
        load.join()
    predictions = float(page.locator(peak.format("predictionsPerSecond")).get_attribute("data-peak"))
    requests = float(page.locator(peak.format("requestsPerSecond")).get_attribute("data-peak"))
    assert predictions > requests > 0  # 4 digits in most requests
    expect(page.locator("figure[data-metric='predictionsPerSecond'] svg path").first).to_have_attribute(
        "d",
        re.compile(r"L[\d.]+ (?!148\.0)"),  # a point above the chart's zero line (y = 148)
    )
    shoot(page, "endpoint")
    page.get_by_label("Time window").select_option("1d")  # one-minute slots: the same requests, summed
    expect(page.locator(peak.format("predictionsPerSecond"))).not_to_have_attribute("data-peak", "")
