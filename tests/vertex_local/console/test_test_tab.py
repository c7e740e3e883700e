"""Issue 13, item 4: test a model by drawing a digit or picking a test digit; the exact JSON sent and received."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.support.console import DIGITS_FILE, Release, console_url, shoot
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal

# One stroke, as a hand draws a 7: along the top, then down and to the left (fractions of the pad's side).
SEVEN = [(0.22, 0.2), (0.5, 0.19), (0.78, 0.2), (0.66, 0.42), (0.55, 0.62), (0.46, 0.85)]


def draw(page: Any, points: list[tuple[float, float]]) -> None:
    box = page.locator("canvas.pad").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=12)
    page.mouse.up()


def sent_instances(page: Any) -> np.ndarray:
    return np.asarray(json.loads(page.locator("#request").input_value())["instances"], dtype=np.float64)


def test_drawing_a_seven_with_the_mouse_is_read_as_a_seven(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
    draw(page, SEVEN)
    expect(page.locator("#predicted")).to_have_text("7")
    instances = sent_instances(page)
    assert instances.shape == (1, 28, 28) and instances.min() >= 0 and instances.max() <= 1
    answer = json.loads(page.locator("#response").inner_text())
    assert int(np.argmax(answer["predictions"][0])) == 7
    assert answer["deployedModelId"] == next(iter(rollout.deployed.values()))
    expect(page.locator(".probabilities li")).to_have_count(10)
    expect(page.locator(".probabilities li.best")).to_have_attribute("data-digit", "7")
    shoot(page, "test-tab")


def test_a_seven_drawn_with_a_finger_on_a_touch_screen_is_read_as_a_seven(
    browser: Any, console_server: VertexLocal, rollout: Release
) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 900}, has_touch=True)
    try:
        page = context.new_page()
        page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
        box = page.locator("canvas.pad").bounding_box()
        at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in SEVEN]
        path = [at[0]] + [  # 12 touch moves between each pair of points, as a finger sends them
            (x0 + (x1 - x0) * step / 12, y0 + (y1 - y0) * step / 12)
            for (x0, y0), (x1, y1) in itertools.pairwise(at)
            for step in range(1, 13)
        ]
        touch = context.new_cdp_session(page)
        touch.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": path[0][0], "y": path[0][1]}]}
        )
        for x, y in path[1:]:
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        expect(page.locator("#predicted")).to_have_text("7")
    finally:
        context.close()


def test_the_drawing_is_centred_by_mass_and_scaled_into_a_20_pixel_box_as_mnist_digits_are(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
    draw(page, [(0.05, 0.1), (0.05, 0.6)])  # a short bar in the pad's top-left corner
    expect(page.locator("#predicted")).not_to_have_text("—")
    image = sent_instances(page)[0]
    rows, _ = np.nonzero(image)
    assert rows.max() - rows.min() + 1 == 20  # the taller side fills the 20 px box
    ys, xs = np.indices(image.shape) + 0.5
    assert abs((image * ys).sum() / image.sum() - 14) <= 0.5  # the centre of mass is the field's centre
    assert abs((image * xs).sum() / image.sum() - 14) <= 0.5


@pytest.mark.parametrize("digit", [0, 7])
def test_a_test_digit_is_sent_as_the_walkthrough_request_and_the_answer_shown_as_it_came(
    page: Any, console_server: VertexLocal, rollout: Release, digit: int
) -> None:
    page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
    page.get_by_role("button", name=f"Test digit {digit}").click()
    expect(page.locator("#response")).to_contain_text("predictions")
    shipped = json.loads(DIGITS_FILE.read_text())["digits"][digit]
    pixels = np.frombuffer(base64.b64decode(shipped["pixels"]), np.uint8).reshape(28, 28) / 255
    assert np.allclose(sent_instances(page)[0], pixels, atol=5e-5)  # 4 decimals
    direct = HttpClient(console_server.url).request(
        "POST",
        rollout.predict_path(),
        page.locator("#request").input_value().encode(),
        {"content-type": "application/json"},
    )
    shown = json.loads(page.locator("#response").inner_text())
    assert shown == direct.json()
    expect(page.locator("#predicted")).to_have_text(str(int(np.argmax(shown["predictions"][0]))))


def test_a_bad_request_is_shown_as_the_apis_error_message(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
    body = '{"instances": [[1, 2, 3]]}'
    page.get_by_label("Request JSON").fill(body)
    page.get_by_role("button", name="Predict").click()
    direct = HttpClient(console_server.url).request(
        "POST", rollout.predict_path(), body.encode(), {"content-type": "application/json"}
    )
    error = direct.json()["error"]
    expect(page.get_by_role("alert")).to_have_text(f"{direct.status} {error['status']}: {error['message']}")
    expect(page.locator("#predicted")).to_have_count(0)
