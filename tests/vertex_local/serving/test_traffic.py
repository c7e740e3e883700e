"""Traffic split routing: weighted random choice over deployed models, from the in-memory view."""

from __future__ import annotations

import collections
import random

import pytest

from vertex_local.errors import ApiError
from vertex_local.serving.traffic import TrafficTable, route_from_endpoint
from vertex_local.vertex.endpoint_service import checked_split

PARENT = "projects/p/locations/us-central1"


def endpoint(split: dict[str, int], deployed: tuple[str, ...] = ("11", "12", "13")) -> dict:
    return {
        "id": "5",
        "parent": PARENT,
        "trafficSplit": split,
        "deployedModels": [
            {"id": d, "model": f"{PARENT}/models/1", "modelVersionId": str(i + 1)} for i, d in enumerate(deployed)
        ],
        "serving": {d: {"modelDisplayName": "mnist", "artifactUri": "gs://b/m"} for d in deployed},
    }


def test_picks_follow_the_split_and_never_choose_a_model_at_zero_percent() -> None:
    route = route_from_endpoint(endpoint({"11": 90, "12": 10, "13": 0}))
    rng = random.Random(7)
    counts = collections.Counter(route.pick(rng).deployed_model_id for _ in range(20_000))
    assert set(counts) == {"11", "12"}
    assert 0.085 < counts["12"] / 20_000 < 0.115


def test_an_endpoint_without_traffic_answers_failed_precondition() -> None:
    route = route_from_endpoint(endpoint({}))
    with pytest.raises(ApiError) as caught:
        route.pick(random.Random(0))
    assert caught.value.code == 400 and caught.value.status == "FAILED_PRECONDITION"


def test_the_table_hides_endpoints_of_other_projects_and_withdrawn_ones() -> None:
    table = TrafficTable()
    table.publish(endpoint({"11": 100}))
    assert table.route(PARENT, "5").targets[0].model_version_id == "1"
    with pytest.raises(ApiError):
        table.route("projects/other/locations/us-central1", "5")
    table.withdraw("5")
    with pytest.raises(ApiError):
        table.route(PARENT, "5")


@pytest.mark.parametrize(
    ("split", "allow_new", "problem"),
    [
        ({"11": 50, "12": 40}, False, "sum to 100"),
        ({"11": 50, "99": 50}, False, "not deployed"),
        ({"0": 10, "11": 90}, False, "not deployed"),
        ({"11": 101, "12": -1}, False, "0 to 100"),
        ({"11": "50", "12": 50}, False, "0 to 100"),
        ([["11", 100]], False, "must be an object"),
    ],
)
def test_bad_traffic_splits_are_refused(split: object, allow_new: bool, problem: str) -> None:
    with pytest.raises(ApiError) as caught:
        checked_split(split, {"11", "12"}, allow_new)
    assert caught.value.code == 400 and problem in caught.value.message


def test_a_deploy_split_may_name_the_new_model_as_zero() -> None:
    assert checked_split({"0": 10, "11": 90}, {"11"}, allow_new=True) == {"0": 10, "11": 90}
    assert checked_split({}, {"11"}, allow_new=False) == {}
