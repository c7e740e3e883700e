"""scripts/core/rollout.py: traffic planning tables (pure; the SDK side is in test_deploy and test_rollback)."""

from __future__ import annotations

import pytest

from scripts.core.rollout import NEW, Deployed, Plan, describe_plan, plan_rollout, scale_split

MODEL = "projects/p/locations/us-central1/models/9"


def deployed(id_: str, version: str, traffic: int) -> Deployed:
    return Deployed(id=id_, model=MODEL, version_id=version, traffic=traffic)


@pytest.mark.parametrize(
    ("split", "total", "scaled"),
    [
        ({"a": 100}, 90, {"a": 90}),
        ({"a": 50, "b": 50}, 90, {"a": 45, "b": 45}),
        ({"a": 60, "b": 40}, 90, {"a": 54, "b": 36}),
        ({"a": 1, "b": 1, "c": 1}, 100, {"a": 34, "b": 33, "c": 33}),
        ({"a": 70, "b": 30}, 0, {"a": 0, "b": 0}),
        ({}, 90, {}),
        ({"a": 0}, 90, {"a": 0}),
    ],
)
def test_scale_split_keeps_proportions_and_the_exact_total(split: dict, total: int, scaled: dict) -> None:
    assert scale_split(split, total) == scaled
    assert sum(scaled.values()) in (0, total)


@pytest.mark.parametrize(
    ("current", "version", "percent", "expected"),
    [
        # An empty endpoint: the version takes everything at once.
        ([], "1", 10, Plan(False, None, {NEW: 100}, (), {})),
        # Production serves: a 10 % canary beside it, production retired after promotion.
        ([deployed("11", "1", 100)], "2", 10, Plan(False, None, {"11": 90, NEW: 10}, ("11",), {"11": 100})),
        # Already the only deployment at 100 %: nothing to do.
        ([deployed("11", "1", 100)], "1", 10, Plan(True, "11", {"11": 100}, (), {"11": 100})),
        # Left behind at 0 % by an interrupted run: reused, not deployed twice.
        (
            [deployed("11", "1", 100), deployed("12", "2", 0)],
            "2",
            10,
            Plan(False, "12", {"11": 90, "12": 10}, ("11",), {"11": 100}),
        ),
        # Two versions share the traffic: both shrink in proportion.
        (
            [deployed("11", "1", 60), deployed("12", "2", 40)],
            "3",
            10,
            Plan(False, None, {"11": 54, "12": 36, NEW: 10}, ("11", "12"), {"11": 60, "12": 40}),
        ),
        # It holds 100 % but an idle deployment remains: no trial share needed, the idle one goes.
        (
            [deployed("11", "1", 100), deployed("12", "2", 0)],
            "1",
            10,
            Plan(False, "11", {"11": 100}, ("12",), {"11": 100}),
        ),
        # Rollback: straight to 100 %.
        ([deployed("12", "2", 100)], "1", 100, Plan(False, None, {NEW: 100}, ("12",), {"12": 100})),
    ],
)
def test_plan_rollout(current: list[Deployed], version: str, percent: int, expected: Plan) -> None:
    assert plan_rollout(current, MODEL, version, percent) == expected


def test_another_models_deployment_with_the_same_version_id_is_not_the_target() -> None:
    other = Deployed(id="11", model="projects/p/locations/us-central1/models/8", version_id="1", traffic=100)
    plan = plan_rollout([other], MODEL, "1", 10)
    assert plan.reuse_id is None and plan.trial_split == {"11": 90, NEW: 10}


@pytest.mark.parametrize("percent", [0, 101, -5])
def test_a_trial_share_outside_1_to_100_is_refused(percent: int) -> None:
    with pytest.raises(ValueError, match="outside 1-100"):
        plan_rollout([], MODEL, "1", percent)


def test_the_described_plan_names_each_step_in_order() -> None:
    current = [deployed("11", "1", 100)]
    plan = plan_rollout(current, MODEL, "2", 10)
    assert describe_plan(plan, "v2", current, smoke_test=True) == [
        "1. deploy v2 to 10 % of the traffic, beside deployed model 11 (v1) at 90 %",
        "2. smoke-test v2 (only its answers count)",
        "3. give v2 100 % of the traffic and the production alias",
        "4. undeploy deployed model 11 (v1)",
    ]
    noop = plan_rollout(current, MODEL, "1", 10)
    assert describe_plan(noop, "v1", current, smoke_test=True) == [
        "v1 already takes 100 % of the traffic alone: nothing to do"
    ]
