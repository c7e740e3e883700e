"""Issue 23, defect 4 and features 7-9: a registry of 50 versions, comparing versions, training curves, links
between a job, its version and the endpoints, and a deleted model's page."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from tests.support.console import UI_TIMEOUT_MS, Release, console_url, install_clock, new_release, refresh_now, shoot
from tests.support.rest_client import HttpClient, wait_for_operation
from tests.support.vertex_local_server import VertexLocal

VERSIONS = 50
SHOWN = 10  # models.js: the newest ten before "Show all"


def fake_metrics(number: int) -> dict[str, Any]:
    """A metrics.json as trainer/export.py writes it, its figures differing by version."""
    accuracy = 0.90 + (number * 37 % VERSIONS) / 1000  # not in version order, so sorting has work to do
    matrix = [[0] * 10 for _ in range(10)]
    for digit in range(10):
        matrix[digit][digit] = 90 + number % 7
        matrix[digit][(digit + 1) % 10] = 10 - number % 7
    history = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.8 + e / 100, "val_loss": 1.1 / e,
                "val_accuracy": 0.79 + e / 100} for e in (1, 2, 3)]  # fmt: skip
    return {"accuracy": accuracy, "loss": 0.2, "per_class_accuracy": [accuracy - d / 1000 for d in range(10)],
            "confusion_matrix": matrix, "git_sha": f"{number:012x}", "history": history}  # fmt: skip


def register(server: VertexLocal, client: HttpClient, name: str, prefix: str, parent_model: str = "") -> str:
    image = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    body: dict[str, Any] = {"model": {"displayName": name, "artifactUri": f"gs://{server.bucket}/{prefix}/model",
                                      "containerSpec": {"imageUri": image}}}  # fmt: skip
    if parent_model:
        body["parentModel"] = parent_model
    answer = client.json("POST", f"/v1/{server.parent}/models:upload", body)
    assert answer.status == 200, answer.body
    return wait_for_operation(client, answer.json())["model"]


@pytest.fixture(scope="module")
def fifty(console_server: VertexLocal) -> str:
    """A model with 50 versions, each with its own metrics.json; returns the model's id."""
    client, bucket = HttpClient(console_server.url), console_server.storage_client().bucket(console_server.bucket)
    model = ""
    for number in range(1, VERSIONS + 1):
        bucket.blob(f"scale/{number}/model/metrics.json").upload_from_string(json.dumps(fake_metrics(number)))
        model = register(console_server, client, "many-versions", f"scale/{number}", model)
    return model.rsplit("/", 1)[1]


def metrics_reads(page: Any) -> list[str]:
    reads: list[str] = []
    page.on("request", lambda request: reads.append(unquote(request.url)) if "metrics.json" in request.url else None)
    return reads


def test_fifty_versions_are_one_compact_table_reading_ten_metrics_files_each_once(
    page: Any, console_server: VertexLocal, fifty: str
) -> None:
    reads = metrics_reads(page)
    page.goto(console_url(console_server, "/models"))
    section = page.locator(f"[data-model='{fifty}']")
    expect(section.locator("tbody tr")).to_have_count(SHOWN)
    expect(section.locator("tbody tr").first).to_have_attribute("data-version", str(VERSIONS))
    expect(section.locator("[data-version='50'] td").nth(1)).to_have_text(f"{fake_metrics(50)['accuracy'] * 100:.2f} %")
    assert section.bounding_box()["height"] < 1200  # 50 cards were 7,900 px
    assert len([url for url in reads if "/scale/" in url]) == SHOWN
    shoot(page, "registry-50")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "registry-50-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    section.get_by_role("button", name=f"Show all {VERSIONS} versions").click()
    expect(section.locator("tbody tr")).to_have_count(VERSIONS)
    expect(section.locator("[data-version='1'] td").nth(1)).to_contain_text(" %")
    scale_reads = [url for url in reads if "/scale/" in url]
    assert len(scale_reads) == VERSIONS == len(set(scale_reads))  # each once, however many refreshes


def test_the_registry_refreshes_and_shows_a_new_version_without_a_reload(
    page: Any, console_server: VertexLocal, staged_model: str
) -> None:
    release = new_release(console_server, "refreshing")
    release.register(staged_model, "aaaa0000aaaa")
    install_clock(page)
    page.goto(console_url(console_server, "/models"))
    section = page.locator(f"[data-model='{release.model.rsplit('/', 1)[1]}']")
    expect(section.locator("tbody tr")).to_have_count(1)
    release.register(staged_model, "bbbb0000bbbb")
    refresh_now(page)
    expect(section.locator("tbody tr")).to_have_count(2, timeout=UI_TIMEOUT_MS)
    expect(section.locator("[data-version='2'] .alias")).to_contain_text(["sha-bbbb0000bbbb", "candidate"])


def test_the_compare_page_sorts_the_versions_and_puts_two_side_by_side_with_the_gates_verdict(
    page: Any, console_server: VertexLocal, fifty: str
) -> None:
    bucket = console_server.storage_client().bucket(console_server.bucket)
    verdict = {"passed": True, "reason": "better than production", "candidate": {
        "model_dir": f"gs://{console_server.bucket}/scale/50/model", "accuracy": fake_metrics(50)["accuracy"]},
        "production": {"accuracy": fake_metrics(49)["accuracy"]},
        "comparison": {"test": "mcnemar-exact", "p_value": 0.0123, "production_only_right": 3,
                       "candidate_only_right": 9}}  # fmt: skip
    bucket.blob("scale/50/gate/gate.json").upload_from_string(json.dumps(verdict))
    page.goto(console_url(console_server, f"/models/{fifty}/compare"))
    rows = page.locator("table.compare tbody tr")
    expect(rows).to_have_count(VERSIONS)
    page.get_by_role("button", name="Accuracy", exact=True).click()
    best = max(range(1, VERSIONS + 1), key=lambda n: fake_metrics(n)["accuracy"])
    expect(rows.first).to_have_attribute("data-version", str(best))
    assert "sort=accuracy" in page.url
    page.get_by_role("button", name="Accuracy", exact=True).click()
    worst = min(range(1, VERSIONS + 1), key=lambda n: fake_metrics(n)["accuracy"])
    expect(rows.first).to_have_attribute("data-version", str(worst))
    sides = page.locator("[data-side]")
    expect(sides).to_have_count(2)
    expect(sides.first).to_have_attribute("data-side", "49")
    expect(sides.nth(1)).to_have_attribute("data-side", "50")
    expect(page.locator("table.confusion")).to_have_count(2)
    expect(sides.nth(1).locator("table.confusion tbody tr").first.locator("td").first).to_have_text(
        str(fake_metrics(50)["confusion_matrix"][0][0])
    )
    gate = page.locator("section.gate")
    expect(gate).to_contain_text("better than production")
    expect(gate).to_contain_text("mcnemar-exact, p = 0.0123")
    shoot(page, "compare")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "compare-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Version", exact=True).select_option("3")
    expect(sides.first).to_have_attribute("data-side", "3")
    expect(page.locator("#no-verdict")).to_have_count(0)  # version 50's verdict still applies
    assert "a=3" in page.url


def test_confusion_matrix_headers_line_up_with_their_columns(
    page: Any, console_server: VertexLocal, rollout: Release
) -> None:
    page.goto(console_url(console_server, f"/models/{rollout.model.rsplit('/', 1)[1]}/versions/2"))
    header = page.locator("table.confusion thead th").nth(3)
    cell = page.locator("table.confusion tbody tr").first.locator("td").nth(2)
    header_box, cell_box = header.bounding_box(), cell.bounding_box()
    assert abs(header_box["x"] + header_box["width"] - cell_box["x"] - cell_box["width"]) < 1
    align = "element => getComputedStyle(element).textAlign"
    assert header.evaluate(align) == cell.evaluate(align) == "right"


def test_a_version_page_draws_its_training_curves_per_epoch(
    page: Any, console_server: VertexLocal, rollout: Release, trained_model_dir
) -> None:
    history = json.loads((trained_model_dir / "metrics.json").read_text())["history"]
    page.goto(console_url(console_server, f"/models/{rollout.model.rsplit('/', 1)[1]}/versions/2"))
    for metric in ("loss", "accuracy"):
        figure = page.locator(f"figure[data-metric='{metric}']")
        expect(figure.locator("li[data-series]")).to_have_count(2)
        expect(figure.locator("li[data-series='training']")).to_have_attribute("data-latest", str(history[-1][metric]))
        expect(figure.locator("li[data-series='validation']")).to_have_attribute(
            "data-latest", str(history[-1][f"val_{metric}"])
        )
    expect(page.locator("figure[data-metric='loss'] .x-tick").last).to_have_text(f"epoch {len(history)}")
    shoot(page, "version-curves")


def test_a_job_links_to_the_version_it_produced_and_the_version_back_to_the_job_and_its_endpoint(
    page: Any, console_server: VertexLocal, trained_model_dir
) -> None:
    metrics = (trained_model_dir / "metrics.json").read_text()
    command = [sys.executable, "-c", "print('trained, as it were')"]
    spec = {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                                 "containerSpec": {"imageUri": "local/trainer:test", "command": command}}],
            "baseOutputDirectory": {"outputUriPrefix": f"gs://{console_server.bucket}/linked"}}  # fmt: skip
    client = HttpClient(console_server.url)
    answer = client.json(
        "POST", f"/v1/{console_server.parent}/customJobs", {"displayName": "linked-job", "jobSpec": spec}
    )
    assert answer.status == 200, answer.body
    job_id = answer.json()["name"].rsplit("/", 1)[1]
    release = new_release(console_server, "linked")
    release.model = ""
    staged = console_server.stage_model(trained_model_dir, "linked")  # what the job "wrote" to AIP_MODEL_DIR
    assert staged == f"gs://{console_server.bucket}/linked/model" and metrics
    version = release.register(staged, "1inked0000aa")
    release.deploy(version, 100)
    page.goto(console_url(console_server, f"/jobs/{job_id}"))
    expect(page.locator("code.argv").first).to_have_text(shlex.join(command))
    output = page.locator("#job-output")
    expect(output.get_by_role("link", name=f"linked version {version}")).to_be_visible()
    expect(output.get_by_role("link", name=f"endpoint {release.endpoint_id}")).to_be_visible()
    expect(output.locator("figure[data-metric='accuracy']")).to_be_visible()
    output.get_by_role("link", name=f"linked version {version}").click()
    expect(page.locator("main h1")).to_have_text(f"linked, version {version}")
    page.get_by_role("link", name=f"linked-job (job {job_id})").click()
    expect(page.locator("main h1")).to_contain_text(f"job {job_id}")


def test_a_deleted_model_says_it_was_deleted_instead_of_a_bare_404(
    page: Any, console_server: VertexLocal, staged_model: str
) -> None:
    client = HttpClient(console_server.url)
    model = register(console_server, client, "short-lived", "runs/console")
    answer = client.request("DELETE", f"/v1/{model}")
    assert answer.status == 200, answer.body
    wait_for_operation(client, answer.json())
    page.goto(console_url(console_server, f"/models/{model.rsplit('/', 1)[1]}/versions/1"))
    expect(page.locator("main h1")).to_have_text("Model not found")
    expect(page.locator("main")).to_contain_text(f"Model {model.rsplit('/', 1)[1]} was deleted or never existed")
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
    expect(page).to_have_title("Model not found · vertex-local console")
