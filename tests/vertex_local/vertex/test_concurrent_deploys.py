"""Operations on one endpoint take turns, and a model being deployed cannot be deleted under its deploy.

Real concurrent clients over raw HTTP against the session's vertex-local, several rounds each. Whether two
operations overlapped is read from their own metadata (genericMetadata createTime / updateTime): a round where
one ended before the other began tests nothing and is not counted.
"""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.concurrency import endpoint_doc, operation_of
from tests.support.rest_client import HttpClient, create_endpoint, deploy, upload_model

OVERLAPPING_ROUNDS = 3  # rounds in which both deploys were under way at once
MAX_ROUNDS = 8
DELETE_ROUNDS = 4
FAILED_PRECONDITION = 9  # google.rpc.Code


@pytest.fixture(scope="module")
def model_uri(vertex_local, trained_model_dir: Path) -> str:
    return vertex_local.stage_model(trained_model_dir, "concurrent-deploys")


def name() -> str:
    return f"turns-{uuid.uuid4().hex[:8]}"


def deploy_body(model: str, split: dict[str, int]) -> dict[str, Any]:
    resources = {"machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1}
    return {"deployedModel": {"model": model, "dedicatedResources": resources}, "trafficSplit": split}


def interval(operation: dict[str, Any]) -> tuple[str, str]:
    generic = operation["metadata"]["genericMetadata"]
    return generic["createTime"], generic["updateTime"]


def overlapped(first: dict[str, Any], second: dict[str, Any]) -> bool:
    (start_a, end_a), (start_b, end_b) = interval(first), interval(second)
    return start_a < end_b and start_b < end_a


def test_two_deploys_sent_at_once_never_silently_take_each_others_traffic(vertex_local, model_uri) -> None:
    client = HttpClient(vertex_local.url)
    model = upload_model(client, vertex_local, name(), model_uri)
    endpoint_id = create_endpoint(client, vertex_local, name())
    live = deploy(client, vertex_local, endpoint_id, model, {"0": 100})
    path = f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:deployModel"
    overlapping, outcomes = 0, []
    for _ in range(MAX_ROUNDS):
        if overlapping == OVERLAPPING_ROUNDS:
            break
        together = threading.Barrier(2)

        def send(_: int, together: threading.Barrier = together) -> dict[str, Any]:
            own = HttpClient(vertex_local.url)
            together.wait()
            answer = own.json("POST", path, deploy_body(f"{model}@1", {"0": 50, live: 50}))
            assert answer.status == 200, answer.body
            return operation_of(own, answer.json())

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first, second = pool.map(send, range(2))
        split = endpoint_doc(client, vertex_local, endpoint_id)["trafficSplit"]
        succeeded = [op["response"]["deployedModel"]["id"] for op in (first, second) if "response" in op]
        outcomes.append((len(succeeded), split))
        assert split[live] == 50 and sum(split.values()) == 100, split
        if overlapped(first, second):
            overlapping += 1
            assert len(succeeded) == 1, f"both deploys succeeded; the split is {split}"
            assert split[succeeded[0]] == 50
            (failed,) = [op["error"] for op in (first, second) if "error" in op]
            assert failed["code"] == FAILED_PRECONDITION and "arrived on the endpoint" in failed["message"]
        for deployed in succeeded:  # back to the live model alone
            undeploy = {"deployedModelId": deployed, "trafficSplit": {live: 100}}
            answer = client.json("POST", f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:undeployModel", undeploy)
            assert "error" not in operation_of(client, answer.json())
    client.close()
    assert overlapping == OVERLAPPING_ROUNDS, f"only {overlapping} of {len(outcomes)} rounds overlapped: {outcomes}"


def unfinished_operation_appeared(state_dir: Path, known: set[str]) -> bool:
    with sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT body FROM documents WHERE kind = 'operation'").fetchall()
    return any(not op.get("done") and op["name"] not in known for op in (json.loads(body) for (body,) in rows))


def operation_names(state_dir: Path) -> set[str]:
    with sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT body FROM documents WHERE kind = 'operation'").fetchall()
    return {json.loads(body)["name"] for (body,) in rows}


def test_a_model_is_not_deleted_while_its_deploy_operation_runs(vertex_local, model_uri) -> None:
    client = HttpClient(vertex_local.url)
    refused_mid_deploy = 0
    for round_ in range(DELETE_ROUNDS):
        model = upload_model(client, vertex_local, name(), model_uri)
        endpoint_id = create_endpoint(client, vertex_local, name())
        known = operation_names(vertex_local.state_dir)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            deploying = pool.submit(deploy, HttpClient(vertex_local.url), vertex_local, endpoint_id, model, {"0": 100})
            deadline = time.monotonic() + 60
            while not unfinished_operation_appeared(vertex_local.state_dir, known) and not deploying.done():
                assert time.monotonic() < deadline, "the deploy never started"
                time.sleep(0.002)
            in_flight = not deploying.done()
            deleted = client.request("DELETE", f"/v1/{model}")
            deployed_id = deploying.result()
        assert deleted.status == 400, f"round {round_}: the model was deleted mid-deploy ({deleted.body!r})"
        assert deleted.json()["error"]["status"] == "FAILED_PRECONDITION"
        refused_mid_deploy += in_flight
        assert client.request("GET", f"/v1/{model}").status == 200
        endpoint = endpoint_doc(client, vertex_local, endpoint_id)
        assert [d["id"] for d in endpoint["deployedModels"]] == [deployed_id]
    client.close()
    assert refused_mid_deploy >= 1, "no round caught the deploy still running"
