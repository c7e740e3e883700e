"""What a deployModel or undeployModel request asks for, checked as Vertex checks it, before any work starts.

plan_deploy()     the DeployedModel to add, its resources (machines.py), the version and its serving runtime
                  (runtimes.py), and the traffic split, checked against the endpoint as it is now
changed_since()   at commit time: the models deployed on the endpoint since the request was checked, which a
                  split written for the endpoint as it was cannot account for
split_without()   the split an undeploy leaves
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from vertex_local.documents import EndpointDoc
from vertex_local.errors import ApiError
from vertex_local.vertex import machines, runtimes
from vertex_local.vertex.containers import Containers
from vertex_local.vertex.endpoint_service import checked_split
from vertex_local.vertex.fields import display_name_field, object_field, resource_id
from vertex_local.vertex.model_registry import ModelRegistry, split_name


@dataclasses.dataclass(frozen=True)
class DeployPlan:
    parent: str
    endpoint_id: str
    entry: dict[str, Any]  # the DeployedModel, id filled in
    serving: dict[str, Any]  # the endpoint's private serving entry (documents.ServingEntry)
    split: dict[str, int]  # as requested: "0" is the model being deployed; {} leaves the split alone
    tf_version: str | None  # the TensorFlow of the version's serving image (None: ours, served in-process)
    seen: frozenset[str]  # the deployed model ids on the endpoint when the request was checked

    @property
    def deployed_id(self) -> str:
        return self.entry["id"]

    @property
    def what(self) -> str:
        return f"{self.entry['model']}@{self.entry['modelVersionId']}"


def plan_deploy(parent: str, doc: EndpointDoc, body: dict[str, Any], registry: ModelRegistry,
                new_id: Callable[[Any], str], own_image: str, today: datetime.date,
                containers: Containers | None = None) -> DeployPlan:  # fmt: skip
    """A checked deployModel body; ApiError (400/404) for anything Vertex would refuse."""
    spec = object_field(body, "deployedModel")
    model_id, version_ref = split_name(resource_id(str(spec.get("model") or ""), "models", parent))
    if not model_id:
        raise ApiError(400, "deployedModel.model is required")
    display_name_field(spec, "deployedModel", required=False)
    if "automaticResources" in spec:  # the Model's supportedDeploymentResourcesTypes is [DEDICATED_RESOURCES]
        raise ApiError(400, "deployedModel.automaticResources: this Model supports only DEDICATED_RESOURCES; "
                       "give deployedModel.dedicatedResources (machineSpec, minReplicaCount)")  # fmt: skip
    if "dedicatedResources" not in spec:
        raise ApiError(400, "deployedModel.dedicatedResources is required: this Model supports only "
                       "DEDICATED_RESOURCES")  # fmt: skip
    resources = machines.check_dedicated_resources(spec["dedicatedResources"], "deployedModel.dedicatedResources")
    model_doc = registry.model(parent, model_id)
    version = registry.version(model_doc, version_ref)
    runs = containers.runs(version.get("containerSpec")) if containers is not None else None
    try:  # a container's image brings its own server: no TensorFlow op list to check it against
        tf_version = None if runs else runtimes.serving_tf_version(version.get("containerSpec"), own_image, today)
    except ValueError as exc:
        raise ApiError(400, f"cannot deploy {parent}/models/{model_id}@{version['versionId']}: {exc}",
                       "FAILED_PRECONDITION") from None  # fmt: skip
    if not version.get("artifactUri"):
        raise ApiError(400, "the model version has no artifactUri to serve", "FAILED_PRECONDITION")
    seen = frozenset(deployed["id"] for deployed in doc["deployedModels"])
    split = checked_split(body.get("trafficSplit") or {}, set(seen), allow_new=True)
    entry = {
        "id": new_id(spec.get("id")),
        "model": f"{parent}/models/{model_id}",
        "modelVersionId": version["versionId"],
        "displayName": spec.get("displayName") or model_doc.get("displayName", ""),
        "dedicatedResources": resources,
    }
    serving = {"artifactUri": version["artifactUri"], "modelDisplayName": model_doc.get("displayName", "")}
    if runs and containers is not None:
        serving["container"] = containers.launch_spec(runs, version["containerSpec"], doc["id"])
    return DeployPlan(parent, doc["id"], entry, serving, split, tf_version, seen)


def changed_since(plan: DeployPlan, doc: EndpointDoc) -> None:
    """FAILED_PRECONDITION when models were deployed on the endpoint after the request was checked and its split
    does not name them: it was written for the endpoint as it was, and would silently take their traffic."""
    arrived = {deployed["id"] for deployed in doc["deployedModels"]} - plan.seen
    unnamed = sorted(arrived - set(plan.split))
    if plan.split and unnamed:
        raise ApiError(400, f"deployed model(s) {unnamed} arrived on the endpoint while this deploy waited for the "
                       "operation before it; its trafficSplit does not name them. Send it again with a split for "
                       "the endpoint as it is now", "FAILED_PRECONDITION")  # fmt: skip


def split_without(doc: EndpointDoc, deployed_id: str, requested: Any) -> dict[str, int]:
    """The endpoint's split once `deployed_id` is gone: the one requested, or the current one if it gave
    that model no traffic (or it is the last model)."""
    remaining = {deployed["id"] for deployed in doc["deployedModels"]} - {deployed_id}
    if isinstance(requested, dict) and deployed_id in requested:  # the SDK may name it at 0 %
        if requested[deployed_id] != 0:
            raise ApiError(400, f"trafficSplit gives {requested[deployed_id]}% to {deployed_id}, being undeployed")
        requested = {key: percent for key, percent in requested.items() if key != deployed_id}
    split = checked_split(requested, remaining, allow_new=False)
    if split:
        return split
    share = doc["trafficSplit"].get(deployed_id, 0)
    if share and remaining:
        raise ApiError(400, f"deployed model {deployed_id} still takes {share}% of the traffic; "
                       "send a trafficSplit without it", "FAILED_PRECONDITION")  # fmt: skip
    return {key: percent for key, percent in doc["trafficSplit"].items() if key != deployed_id}
