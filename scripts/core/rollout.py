"""How a model version reaches 100 % of an endpoint: the plan, and the endpoint operations that carry it out.

Not run by itself; scripts.deploy and scripts.rollback both use it. A plan is: put the version beside what
serves now with a trial share of the traffic (canary_percent, or 100 when nothing serves), then promote it
to 100 % and retire every other deployment. Planning is pure; the operations below it call the SDK.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from google.api_core import exceptions as google_exceptions
from google.cloud import aiplatform

from pipeline_config import Config
from scripts.core import registry
from scripts.core.step import StepError

NEW = "0"  # the key a traffic split uses for the model being deployed by the same request


@dataclasses.dataclass(frozen=True)
class Deployed:
    """One DeployedModel on an endpoint."""

    id: str
    model: str  # model resource name, without @version
    version_id: str
    traffic: int


@dataclasses.dataclass(frozen=True)
class Plan:
    noop: bool  # the version already takes 100 % alone
    reuse_id: str | None  # the version is already deployed under this id, so it is not deployed again
    trial_split: dict[str, int]  # the split while the new deployment is tested; NEW = the new deployment
    retire: tuple[str, ...]  # deployed model ids undeployed once the version holds 100 %
    previous_split: dict[str, int]  # what to restore if anything fails


def scale_split(split: dict[str, int], total: int) -> dict[str, int]:
    """Shares scaled to sum to `total`, keeping proportions (largest remainder; ties go to the smaller id)."""
    weight = sum(split.values())
    if weight <= 0 or total <= 0:
        return {key: 0 for key in split}
    exact = {key: value * total / weight for key, value in split.items()}
    scaled = {key: int(share) for key, share in exact.items()}
    by_remainder = sorted(split, key=lambda key: (-(exact[key] - scaled[key]), key))
    for key in by_remainder[: total - sum(scaled.values())]:
        scaled[key] += 1
    return scaled


def plan_rollout(deployed: Sequence[Deployed], model: str, version_id: str, trial_percent: int) -> Plan:
    """Plan to bring model@version_id to 100 %, trying it first at trial_percent beside the serving models."""
    if not 1 <= trial_percent <= 100:
        raise ValueError(f"trial percent {trial_percent} is outside 1-100")
    target = next((d for d in deployed if d.model == model and d.version_id == version_id), None)
    others = [d for d in deployed if d is not target]
    previous = {d.id: d.traffic for d in deployed if d.traffic > 0}
    if target is not None and not others and target.traffic == 100:
        return Plan(True, target.id, {target.id: 100}, (), previous)
    serving = {d.id: d.traffic for d in others if d.traffic > 0}
    share = trial_percent if serving else 100
    trial = {key: value for key, value in scale_split(serving, 100 - share).items() if value > 0}
    trial[target.id if target else NEW] = share
    return Plan(False, target.id if target else None, trial, tuple(d.id for d in others), previous)


def describe_plan(plan: Plan, version: str, deployed: Sequence[Deployed], smoke_test: bool) -> list[str]:
    """The plan as numbered steps, for --dry-run and the log."""
    if plan.noop:
        return [f"{version} already takes 100 % of the traffic alone: nothing to do"]
    names = {d.id: f"deployed model {d.id} (v{d.version_id})" for d in deployed}
    target = plan.reuse_id or NEW
    first = f"move its deployment {plan.reuse_id}" if plan.reuse_id else f"deploy {version}"
    first += f" to {plan.trial_split[target]} % of the traffic"
    beside = [f"{names[key]} at {value} %" for key, value in plan.trial_split.items() if key != target]
    steps = [first + (f", beside {', '.join(beside)}" if beside else "")]
    if smoke_test:
        steps.append(f"smoke-test {version} (only its answers count)")
    steps.append(f"give {version} 100 % of the traffic and the production alias")
    steps += [f"undeploy {names[key]}" for key in plan.retire]
    return [f"{number}. {step}" for number, step in enumerate(steps, 1)]


def deployments(endpoint: aiplatform.Endpoint | None) -> list[Deployed]:
    """The endpoint's deployed models with their traffic shares (none for an endpoint not created yet)."""
    if endpoint is None:
        return []
    split = endpoint.traffic_split  # re-reads the endpoint
    found = []
    for deployed in endpoint.list_models():
        model, _, version = deployed.model.partition("@")
        found.append(Deployed(deployed.id, model, deployed.model_version_id or version, split.get(deployed.id, 0)))
    return found


def predict_url(cfg: Config, endpoint_name: str) -> str:
    """The REST predict URL: vertex-local's when api_endpoint is set, else the region's Vertex host."""
    host = cfg.vertex.api_endpoint or f"https://{cfg.vertex.region}-aiplatform.googleapis.com"
    return f"{host.rstrip('/')}/v1/{endpoint_name}:predict"


def deploy_new(cfg: Config, endpoint: aiplatform.Endpoint, version: aiplatform.Model, split: dict[str, int]) -> str:
    """Deploy the version with the trial split; returns the new deployed model id."""
    before = {d.id for d in endpoint.list_models()}
    endpoint.deploy(
        model=version,
        deployed_model_display_name=f"{version.display_name}-v{version.version_id}",
        traffic_split=split,
        machine_type=cfg.vertex.deploy_machine_type,
        min_replica_count=cfg.vertex.deploy_min_replicas,
        max_replica_count=cfg.vertex.deploy_max_replicas,
        sync=True,
    )
    new = [d.id for d in endpoint.list_models() if d.id not in before]
    if len(new) != 1:
        raise StepError(f"expected one new deployed model on {endpoint.resource_name}, found {new}")
    return new[0]


def promote(endpoint: aiplatform.Endpoint, version: aiplatform.Model, deployed_id: str) -> None:
    """100 % of the traffic to the version, then the production alias onto it."""
    endpoint.update(traffic_split={deployed_id: 100})
    registry.move_alias(version, registry.PRODUCTION)


def retire(endpoint: aiplatform.Endpoint, keep_id: str, old_ids: Sequence[str], step: str) -> None:
    """Undeploy the older deployments (they take no traffic any more), one log line each."""
    for old in old_ids:
        endpoint.undeploy(old, traffic_split={keep_id: 100})
        print(f"{step}: undeployed deployed model {old}", flush=True)


def restore(endpoint: aiplatform.Endpoint, previous: dict[str, int], new_id: str | None) -> None:
    """Put the previous split back first (so no request reaches the new model), then undeploy it."""
    if previous:
        endpoint.update(traffic_split=previous)
    if new_id is not None:
        endpoint.undeploy(new_id, traffic_split=previous or None)


def rollback_after(endpoint: aiplatform.Endpoint, previous: dict[str, int], new_id: str | None) -> str:
    """Undo a failed trial; says what was done (or what could not be undone)."""
    try:
        restore(endpoint, previous, new_id)
    except (google_exceptions.GoogleAPICallError, ValueError) as exc:
        return f"restoring the traffic split {previous} FAILED too ({exc}); check {endpoint.resource_name}"
    done = f"traffic split {previous or '{}'} restored"
    return done + (f", deployed model {new_id} undeployed" if new_id else "")
