"""Issue 23, defect 5 and feature 6: the endpoint page's windows, model latency and chart labels; deploying,
changing the split, undeploying, rolling back and moving an alias from the page, through the REST API."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.support.console import UI_TIMEOUT_MS, Release, console_url, new_release, shoot
from tests.support.rest_client import HttpClient, predict_body
from tests.support.vertex_local_server import VertexLocal

HISTORY_WAIT_S = 60.0  # a bound for failing: the server samples its counters every 5 s

DRAW = """async ([values, live]) => {
  const { lineChart, units } = await import("/console/static/charts.js");
  const times = values.map((_, i) => 1800000000 + 5 * i);
  const chart = lineChart({ title: "Test", metric: "test", times, unit: units("/s"), live,
    series: [{ name: "a", values }] });
  document.getElementById("view").replaceChildren(chart);
}"""


def test_chart_labels_keep_their_figures_and_units_and_now_is_the_current_slot(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, "/endpoints"))
    expect(page.locator("main h1")).to_have_text("Endpoints")
    page.evaluate(DRAW, [[0, 12.5, 25, 3, None, 0], True])
    expect(page.locator(".y-tick")).to_have_text(["0.0/s", "12.5/s", "25.0/s"])
    expect(page.locator(".x-tick")).to_have_count(5)
    expect(page.locator(".x-tick").last).to_have_text("now")
    legend = page.locator("li[data-series='a']")
    expect(legend).to_contain_text("now 0/s, peak 25/s")  # the current slot, not the last one with data
    box = page.locator("figure.chart > svg").bounding_box()
    plot_left, plot_right = box["x"] + box["width"] * 54 / 640, box["x"] + box["width"] * 630 / 640
    page.mouse.move(plot_left + (plot_right - plot_left) * 1 / 5, box["y"] + box["height"] / 2)
    expect(page.locator(".readout")).to_contain_text("a 12.5/s")


def test_labels_do_not_repeat_a_version_the_display_name_already_has(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, "/endpoints"))
    expect(page.locator("main h1")).to_have_text("Endpoints")
    named = page.evaluate("""async () => {
      const { versionOf } = await import("/console/static/endpoints.js");
      return [versionOf({ displayName: "mnist-v2", modelVersionId: "2" }),
        versionOf({ displayName: "mnist", modelVersionId: "2" }),
        versionOf({ displayName: "v12", modelVersionId: "2" })];
    }""")
    assert named == ["mnist-v2", "mnist v2", "v12 v2"]


def test_axis_text_stays_readable_on_a_phone(page: Any, console_server: VertexLocal, rollout: Release) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(console_url(console_server, f"/endpoints/{rollout.endpoint_id}"))
    tick = page.locator("figure[data-metric='requestsPerSecond'] .x-tick").first
    expect(tick).to_be_visible()
    assert tick.bounding_box()["height"] >= 10  # was about 5 px: a 640-wide drawing shrunk onto a phone
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shoot(page, "endpoint-phone")


def test_every_window_of_googles_console_is_offered_and_the_window_is_kept_in_the_address(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, f"/endpoints/{rollout.endpoint_id}"))
    picker = page.get_by_label("Time window")
    expect(picker.locator("option")).to_have_count(7)
    values = picker.locator("option").evaluate_all("options => options.map((o) => o.value)")
    assert values == ["5m", "1h", "6h", "12h", "1d", "7d", "30d"]
    picker.select_option("12h")
    expect(page).to_have_url(re.compile(r"window=12h$"))
    page.reload()
    expect(page.get_by_label("Time window")).to_have_value("12h")


def test_model_latency_is_charted_beside_total_latency(
    page: Any, console_server: VertexLocal, staged_model: str, mnist_test_digits
) -> None:
    release = new_release(console_server, "latency")
    (deployed,) = [release.deploy(release.register(staged_model, "1a7e1a7e1a7e"), 100)]
    client = HttpClient(console_server.url)
    for start in range(0, 40, 4):
        answer = client.request("POST", release.predict_path(), predict_body(mnist_test_digits[0][start : start + 4]),
                                {"content-type": "application/json"})  # fmt: skip
        assert answer.status == 200
    # The page opens once the server's history has sampled these predictions (every 5 s), rather than before, which
    # left it waiting for its own next chart refresh (5 s more) after the sample.
    sampled = f"/console/api/endpoints/{release.endpoint_id}/metrics?window=5m"
    deadline = time.monotonic() + HISTORY_WAIT_S
    while not any(
        value for series in client.request("GET", sampled).json()["series"] for value in series["modelP99Ms"]
    ):
        assert time.monotonic() < deadline, f"the history never sampled the predictions in {HISTORY_WAIT_S} s"
        time.sleep(0.1)  # polls the server's sampler, with a deadline
    page.goto(console_url(console_server, f"/endpoints/{release.endpoint_id}?window=5m"))
    peak = "figure[data-metric='{}'] li[data-series='deployed model " + deployed + "']"
    for metric in ("p50Ms", "modelP50Ms", "modelP99Ms"):
        page.wait_for_function("s => Number(document.querySelector(s)?.dataset.peak) > 0", arg=peak.format(metric),
                               timeout=60_000)  # fmt: skip
    total = float(page.locator(peak.format("p99Ms")).get_attribute("data-peak"))
    inside = float(page.locator(peak.format("modelP99Ms")).get_attribute("data-peak"))
    assert 0 < inside <= total
    expect(page.locator("figure[data-metric='modelP50Ms'] figcaption")).to_have_text(
        "Model latency p50 (time inside the model)"
    )


def split_of(client: HttpClient, server: VertexLocal, endpoint_id: str) -> dict[str, int]:
    return client.json("GET", f"/v1/{server.parent}/endpoints/{endpoint_id}").json().get("trafficSplit", {})


def confirm(page: Any, says: str, done: str) -> None:
    """The dialog says what will change; after Confirm it shows the operation's result."""
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text(says)
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.locator(".progress")).to_contain_text(done, timeout=UI_TIMEOUT_MS)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)


def test_deploy_change_the_split_undeploy_and_roll_back_from_the_endpoint_page(
    page: Any, console_server: VertexLocal, staged_model: str
) -> None:
    client = HttpClient(console_server.url)
    release = new_release(console_server, "acting")
    first = release.register(staged_model, "ac71000000a1")
    old = release.deploy(first, 100)
    release.alias(first, "production")
    second = release.register(staged_model, "ac71000000a2")
    page.goto(console_url(console_server, f"/endpoints/{release.endpoint_id}"))
    page.get_by_label("Version", exact=True).select_option(f"{release.model}@{second}")
    page.get_by_label("Its traffic (%)").fill("25")
    page.get_by_role("button", name="Deploy…").click()
    confirm(page, f"the new deployed model 25 %, deployed model {old} (acting v1) 75 %", "Done: deployed as")
    split = split_of(client, console_server, release.endpoint_id)
    (new,) = [key for key in split if key != old]
    assert split == {old: 75, new: 25}
    expect(page.locator(f"[data-testid=traffic] li[data-deployed-model-id='{new}']")).to_have_attribute(
        "data-share", "25"
    )
    shoot(page, "endpoint-actions")

    page.get_by_label(f"Traffic for deployed model {old} (acting v1) (%)").fill("50")  # 50 + 25: refused by the server
    page.get_by_role("button", name="Change the split…").click()
    dialog = page.locator("dialog.confirm")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.locator(".error")).to_contain_text("100")
    dialog.get_by_role("button", name="Close").click()
    assert split_of(client, console_server, release.endpoint_id) == {old: 75, new: 25}

    page.get_by_label(f"Traffic for deployed model {old} (acting v1) (%)").fill("0")
    page.get_by_label(f"Traffic for deployed model {new} (acting v2) (%)").fill("100")
    page.get_by_role("button", name="Change the split…").click()
    confirm(page, f"deployed model {old} (acting v1) 0 %, deployed model {new} (acting v2) 100 %", "Done")
    assert split_of(client, console_server, release.endpoint_id) == {old: 0, new: 100}

    page.get_by_role("button", name=f"Undeploy {old}…").click()
    confirm(page, f"Undeploy deployed model {old} (acting v1)", f"deployed model {old} is undeployed")
    assert split_of(client, console_server, release.endpoint_id) == {new: 100}

    page.get_by_label("Version", exact=True).select_option(f"{release.model}@{first}")
    page.get_by_role("button", name="Roll back to this version…").click()
    confirm(page, "Move the alias production to version 1", "version 1 serves 100 % and is production")
    split = split_of(client, console_server, release.endpoint_id)
    (back,) = [key for key in split if key != new]
    assert split == {new: 0, back: 100}
    version = client.json("GET", f"/v1/{release.model}@{first}").json()
    assert "production" in version["versionAliases"]


def test_moving_an_alias_from_a_version_page_promotes_it(
    page: Any, console_server: VertexLocal, staged_model: str
) -> None:
    client = HttpClient(console_server.url)
    release = new_release(console_server, "promoting")
    first = release.register(staged_model, "a11a5000a001")
    release.alias(first, "production")
    second = release.register(staged_model, "a11a5000a002")
    page.goto(console_url(console_server, f"/models/{release.model.rsplit('/', 1)[1]}/versions/{second}"))
    expect(page.get_by_label("Alias")).to_have_value("production")
    page.get_by_role("button", name="Move it to this version…").click()
    confirm(page, f"Point promoting@production at version {second}", f"production is on version {second}")
    assert "production" in client.json("GET", f"/v1/{release.model}@{second}").json()["versionAliases"]
    assert "production" not in client.json("GET", f"/v1/{release.model}@{first}").json()["versionAliases"]
    expect(page.locator("main .alias")).to_contain_text(["production"], timeout=UI_TIMEOUT_MS)
