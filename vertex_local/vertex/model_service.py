"""Vertex AI ModelService routes: upload, get (id, id@version, id@alias), list, versions, aliases, update, delete.

Every handler reads its whole request body before it reads any stored document (model_registry.py does each
change in one transaction), so two requests never overwrite each other's changes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vertex_local.documents import ModelDoc, VersionDoc
from vertex_local.errors import ApiError
from vertex_local.http.bodies import read_json
from vertex_local.vertex import runtimes
from vertex_local.vertex.fields import json_response, location_path, resource_id, text_field, update_mask
from vertex_local.vertex.filters import compile_filter
from vertex_local.vertex.model_registry import ModelRegistry, merged_labels, split_name
from vertex_local.vertex.operations import DELETE, EMPTY, UPLOAD_MODEL, Operations, typed

# ListModels' filter: "model supports = and !=. model represents the Model ID ... display_name supports = and
# !=. labels supports general map functions ... base_model_name only supports =" (v1 REST reference, models.list).
LIST_FILTER_FIELDS = {"model", "displayName", "baseModelName"}
LIST_FILTER_EQUALS_ONLY = frozenset({"baseModelName"})
# ListModelVersions' filter documents labels only (models.listVersions).
VERSIONS_FILTER_FIELDS: set[str] = set()
# (model resource name) -> [(version id, endpoint name, deployed model id)]
DeploymentsOf = Callable[[str], list[tuple[str, str, str]]]


class ModelService:
    def __init__(self, registry: ModelRegistry, operations: Operations, deployments_of: DeploymentsOf,
                 deploying_of: DeploymentsOf, on_upload: Callable, own_image: str = "",
                 today: Callable[[], datetime.date] = datetime.date.today) -> None:  # fmt: skip
        self.registry = registry
        self.operations = operations
        self.deployments_of = deployments_of  # committed deployments (EndpointService)
        self.deploying_of = deploying_of  # deploy operations still running (Deployments)
        self.on_upload = on_upload  # a deploy usually follows an upload: get TensorFlow ready
        self.own_image = own_image  # this repository's serving image, by name (runtimes.py)
        self.today = today  # the date the prebuilt-image table is read at (AppConfig.today)

    def render(self, doc: ModelDoc, version: VersionDoc) -> dict[str, Any]:
        """One version as a v1 Model resource."""
        name = f"{doc['parent']}/models/{doc['id']}"
        deployed = [
            {"endpoint": endpoint, "deployedModelId": deployed_id}
            for version_id, endpoint, deployed_id in self.deployments_of(name)
            if version_id == version["versionId"]
        ]
        return {
            **{key: value for key, value in version.items() if key not in ("displayName", "description")},
            "name": name,
            "displayName": doc.get("displayName", ""),
            "description": doc.get("description", ""),
            "createTime": doc["createTime"],
            "updateTime": doc["updateTime"],
            "deployedModels": deployed,
            "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            "labels": merged_labels(doc, version),
        }

    async def upload(self, request: Request) -> Response:
        body = await read_json(request)
        model = body.get("model")
        if not isinstance(model, dict):
            raise ApiError(400, "model is required and must be an object")
        runtimes.check_upload_image(model.get("containerSpec"), self.own_image, self.today())
        parent = location_path(request)
        parent_model = text_field(body, "parentModel", "request")
        parent_id = split_name(resource_id(parent_model, "models", parent))[0] if parent_model else None
        doc, version = self.registry.upload(parent, model, parent_id, text_field(body, "modelId", "request") or None)
        response = {"model": f"{parent}/models/{doc['id']}", "modelVersionId": version["versionId"]}
        operation = self.operations.completed(
            response["model"], typed("google.cloud.aiplatform.v1.UploadModelResponse", response), UPLOAD_MODEL
        )
        self.on_upload()
        return json_response(operation)

    async def get(self, request: Request) -> Response:
        model_id, ref = split_name(request.path_params["model"])
        doc = self.registry.model(location_path(request), model_id)
        return json_response(self.render(doc, self.registry.version(doc, ref)))

    async def list(self, request: Request) -> Response:
        """One entry per model: its default version, as Vertex lists them."""
        matches = compile_filter(request.query_params.get("filter", ""), LIST_FILTER_FIELDS, LIST_FILTER_EQUALS_ONLY)
        found = []
        for doc in self.registry.models(location_path(request)):
            model = self.render(doc, self.registry.version(doc, None))
            if matches({**model, "model": doc["id"]}):
                found.append(model)
        return json_response({"models": found})

    async def list_versions(self, request: Request) -> Response:
        model_id, _ = split_name(request.path_params["model"])
        doc = self.registry.model(location_path(request), model_id)
        matches = compile_filter(request.query_params.get("filter", ""), VERSIONS_FILTER_FIELDS)
        rendered = [self.render(doc, version) for version in doc["versions"]]
        return json_response({"models": [model for model in rendered if matches(model)]})

    async def merge_version_aliases(self, request: Request) -> Response:
        body = await read_json(request)
        model_id, ref = split_name(request.path_params["model"])
        doc, version = self.registry.merge_aliases(location_path(request), model_id, ref, body.get("versionAliases"))
        return json_response(self.render(doc, version))

    async def update(self, request: Request) -> Response:
        body = await read_json(request)
        model_id, ref = split_name(request.path_params["model"])
        doc, version = self.registry.update(location_path(request), model_id, ref, body, update_mask(request))
        return json_response(self.render(doc, version))

    async def delete(self, request: Request) -> Response:
        model_id, version = split_name(request.path_params["model"])
        if version:
            raise ApiError(400, "DeleteModel takes a model without a version; use :deleteVersion")
        self.registry.delete_model(location_path(request), model_id, self._refuse_if_deployed)
        return json_response(self.operations.completed(location_path(request), typed(EMPTY), DELETE))

    async def delete_version(self, request: Request) -> Response:
        model_id, ref = split_name(request.path_params["model"])
        self.registry.delete_version(location_path(request), model_id, ref, self._refuse_if_deployed)
        return json_response(self.operations.completed(location_path(request), typed(EMPTY), DELETE))

    def _refuse_if_deployed(self, doc: ModelDoc, version_id: str | None) -> None:
        """400 FAILED_PRECONDITION while the model (or that version) is deployed or being deployed."""
        name = f"{doc['parent']}/models/{doc['id']}"
        for deployed_version, endpoint, deployed_id in self.deployments_of(name) + self.deploying_of(name):
            if version_id in (None, deployed_version):
                raise ApiError(
                    400,
                    f"{name}@{deployed_version} is deployed to {endpoint} as {deployed_id}; undeploy it",
                    "FAILED_PRECONDITION",
                )
