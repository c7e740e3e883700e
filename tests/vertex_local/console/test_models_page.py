"""Issue 13, item 1: the Model Registry page, in a real browser, after a demo-like rollout."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.support.console import SHA_V1, SHA_V2, Release, console_url, shoot
from tests.support.rest_client import SERVING_IMAGE
from tests.support.vertex_local_server import VertexLocal


def test_the_registry_lists_each_version_with_its_aliases_labels_and_accuracy_after_a_rollout(
    page: Any, console_server: VertexLocal, rollout: Release, trained_model_dir
) -> None:
    page.goto(console_url(console_server, "/models"))
    model = page.locator(f"[data-model='{rollout.model.rsplit('/', 1)[1]}']")
    v1, v2 = model.locator("[data-version='1']"), model.locator("[data-version='2']")
    expect(v2.locator(".alias")).to_have_text(["sha-" + SHA_V2, "candidate", "production"])
    expect(v1.locator(".alias")).to_have_text(["sha-" + SHA_V1, "default"])
    accuracy = json.loads((trained_model_dir / "metrics.json").read_text())["accuracy"]
    expect(v2).to_contain_text(f"{accuracy * 100:.2f} %")
    expect(v2).to_contain_text(f"git_sha={SHA_V2}")
    expect(v2).to_contain_text(f"endpoint {rollout.endpoint_id}")
    expect(v1.locator("td").last).to_have_text("no")  # undeployed at the end of the canary
    shoot(page, "registry")


def test_a_version_page_shows_its_confusion_matrix_from_metrics_json(
    page: Any, console_server: VertexLocal, rollout: Release, trained_model_dir
) -> None:
    page.goto(console_url(console_server, "/models"))
    page.get_by_role("link", name="Version 2").first.click()
    expect(page.locator("h1")).to_have_text("mnist, version 2")
    expect(page.locator("main")).to_contain_text(SERVING_IMAGE)  # the image the rollout registers
    expect(page.locator("main")).to_contain_text("gs://test-bucket/runs/console/model")
    expect(page.locator(".per-class li")).to_have_count(10)
    matrix = json.loads((trained_model_dir / "metrics.json").read_text())["confusion_matrix"]
    rows = page.locator("table.confusion tbody tr")
    expect(rows).to_have_count(10)
    for truth, counts in enumerate(matrix):
        expect(rows.nth(truth).locator("td")).to_have_text([str(count) for count in counts])
    shoot(page, "version")
