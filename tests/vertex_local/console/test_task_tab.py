"""Issue 21: the test tab follows the endpoint's task. A wine model (tasks/wine.py: 13 numbers, 3 classes) gets its
test examples to send and its class names on the bars; an MNIST endpoint keeps the drawing pad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from tasks.wine import TASK as WINE
from tests.support import tiers
from tests.support.console import SHA_V1, Release, console_url, new_release
from tests.support.once import built_once
from tests.support.rest_client import HttpClient
from tests.support.training import train_in_subprocess
from tests.support.vertex_local_server import VertexLocal


def train_wine(folder: Path) -> None:
    """A few epochs: no test here asserts the model's accuracy, the page shows whichever class the endpoint answers."""
    train_in_subprocess(folder / "model", "--task", "wine", "--epochs", "3")


@pytest.fixture(scope="module")
@tiers.slow
def wine_release(console_server: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> Release:
    """Its model is trained once per run (tests/support/once.py), by whichever worker asks first: the tests using
    it may land on two workers."""
    model_dir = built_once(tmp_path_factory, "wine", train_wine) / "model"
    release = new_release(console_server, "wine")
    version = release.register(console_server.stage_model(model_dir, "runs/wine"), SHA_V1)
    release.deploy(version, 100)
    return release


def task_of(server: VertexLocal, endpoint_id: str) -> Any:
    return HttpClient(server.url).request("GET", f"/console/api/endpoints/{endpoint_id}/task", b"", {})


def test_the_console_api_describes_the_endpoints_task_with_test_examples(
    console_server: VertexLocal, wine_release: Release
) -> None:
    answer = task_of(console_server, wine_release.endpoint_id)
    assert answer.status == 200
    task = answer.json()
    assert task["input"] == {"name": "features", "shape": [13], "dtype": "float32", "range": None}
    assert task["output"]["labels"] == list(WINE.labels) and task["image"] is False
    assert [sample["label"] for sample in task["samples"]] == [0, 1, 2]  # the first test wine of each class
    x, y = WINE.samples(36)
    first = int(np.flatnonzero(y == 0)[0])
    assert np.allclose(task["samples"][0]["instance"], x[first])


def test_an_endpoint_without_a_model_has_no_task(console_server: VertexLocal) -> None:
    assert task_of(console_server, "404404").status == 404


def test_a_wine_example_is_sent_and_the_answer_named_by_its_class(
    page: Any, console_server: VertexLocal, wine_release: Release
) -> None:
    page.goto(console_url(console_server, f"/test?endpoint={wine_release.endpoint_id}"))
    expect(page.locator("canvas.pad")).to_have_count(0)
    page.get_by_role("button", name="Test example class_1").click()
    expect(page.locator("#response")).to_contain_text("predictions")
    sent = json.loads(page.locator("#request").input_value())
    assert np.asarray(sent["instances"]).shape == (1, 13)
    direct = HttpClient(console_server.url).request(
        "POST", wine_release.predict_path(), page.locator("#request").input_value().encode(),
        {"content-type": "application/json"},
    )  # fmt: skip
    shown = json.loads(page.locator("#response").inner_text())
    assert shown == direct.json()
    expect(page.locator("#predicted")).to_have_text(WINE.labels[int(np.argmax(shown["predictions"][0]))])
    expect(page.locator("ol.probabilities li")).to_have_count(3)


def test_an_mnist_endpoint_keeps_the_drawing_pad(page: Any, console_server: VertexLocal, rollout: Release) -> None:
    page.goto(console_url(console_server, f"/test?endpoint={rollout.endpoint_id}"))
    expect(page.locator("canvas.pad")).to_have_count(1)
    assert task_of(console_server, rollout.endpoint_id).json()["name"] == "mnist"
