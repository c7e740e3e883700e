"""The model registry's rules: versions, aliases and the `default` alias, on one document per model.

A model document holds every version, so moving an alias between versions is one write.
"""

from __future__ import annotations

import re
from typing import Any

from vertex_local.documents import ModelDoc, VersionDoc
from vertex_local.errors import ApiError
from vertex_local.state import StateStore
from vertex_local.vertex.fields import json_type, labels_field, now, text_field

KIND = "model"
ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
MODEL_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DEFAULT_ALIAS = "default"
# Fields of an uploaded Model that we keep per version; the rest of the request is ignored.
VERSION_FIELDS = (
    "displayName",
    "description",
    "versionDescription",
    "artifactUri",
    "containerSpec",
    "labels",
    "predictSchemata",
    "metadataSchemaUri",
    "metadata",
    "explanationSpec",
)


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not ALIAS.fullmatch(alias):
        raise ApiError(400, f"invalid version alias {alias!r}: must match {ALIAS.pattern}")
    return alias


def split_name(name: str) -> tuple[str, str | None]:
    """'ID' -> (ID, None); 'ID@2' or 'ID@alias' -> (ID, '2' / 'alias')."""
    model_id, _, version = name.partition("@")
    if "@" in version or (_ and not version):
        raise ApiError(400, f"invalid model name {name!r}")
    return model_id, version or None


def checked_version_fields(model: dict[str, Any]) -> list:
    """400 for an uploaded Model whose kept fields have the wrong JSON types; returns its versionAliases."""
    text_field(model, "displayName", "model", required=True)
    for key in ("artifactUri", "description", "versionDescription", "metadataSchemaUri"):
        text_field(model, key, "model")
    labels_field(model, "model")
    for key in ("containerSpec", "predictSchemata", "explanationSpec"):
        if key in model and not isinstance(model[key], dict):
            raise ApiError(400, f"model.{key} must be an object, got {json_type(model[key])}")
    aliases = model.get("versionAliases") or []
    if not isinstance(aliases, list):
        raise ApiError(400, f"model.versionAliases must be a list of strings, got {json_type(aliases)}")
    return aliases


class ModelRegistry:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def model(self, parent: str, model_id: str) -> ModelDoc:
        doc = self.store.get(KIND, model_id)
        if doc is None or doc["parent"] != parent:
            raise ApiError(404, f"model {parent}/models/{model_id} not found")
        return doc

    def models(self, parent: str) -> list[ModelDoc]:
        return [doc for doc in self.store.list(KIND) if doc["parent"] == parent]

    def version(self, doc: ModelDoc, version: str | None) -> VersionDoc:
        """A version by id or alias; the default version when none is named."""
        wanted = version or DEFAULT_ALIAS
        for entry in doc["versions"]:
            if entry["versionId"] == wanted or wanted in entry["versionAliases"]:
                return entry
        raise ApiError(404, f"model {doc['parent']}/models/{doc['id']} has no version or alias {wanted!r}")

    def upload(
        self, parent: str, model: dict[str, Any], parent_model: str | None, model_id: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Create a model, or a new version of `parent_model`; returns (doc, version)."""
        aliases = [check_alias(alias) for alias in checked_version_fields(model)]
        if len(set(aliases)) != len(aliases):
            raise ApiError(400, f"versionAliases has duplicates: {aliases}")
        artifact = model.get("artifactUri", "")
        if artifact and not artifact.startswith("gs://"):
            raise ApiError(400, f"model.artifactUri must be a gs:// URI, got {artifact!r}")
        with self.store.transaction():
            doc = self.model(parent, parent_model) if parent_model else self._new_model(parent, model_id)
            version_id = str(doc["nextVersionId"])
            doc["nextVersionId"] += 1
            stamp = now()
            fields = {key: model[key] for key in VERSION_FIELDS if key in model}
            version = {**fields, "versionId": version_id, "versionAliases": [], "versionCreateTime": stamp}
            version["versionUpdateTime"] = stamp
            doc["versions"].append(version)
            if len(doc["versions"]) == 1 and DEFAULT_ALIAS not in aliases:
                aliases.append(DEFAULT_ALIAS)  # a model's first version is always its default
            for alias in aliases:
                self._move_alias(doc, alias, version)
            doc["updateTime"] = stamp
            self.store.put(KIND, doc["id"], doc)
        return doc, version

    def _new_model(self, parent: str, model_id: str | None) -> ModelDoc:
        if model_id:
            if not MODEL_ID.fullmatch(model_id):
                raise ApiError(400, f"invalid modelId {model_id!r}: must match {MODEL_ID.pattern}")
            if self.store.get(KIND, model_id) is not None:
                raise ApiError(409, f"model {parent}/models/{model_id} already exists")
        model_id = model_id or self.store.next_id()
        stamp = now()
        return {"id": model_id, "parent": parent, "createTime": stamp, "updateTime": stamp,
                "nextVersionId": 1, "versions": []}  # fmt: skip

    def merge_aliases(self, doc: ModelDoc, version: VersionDoc, changes: list[str]) -> VersionDoc:
        """Add aliases ("name") to a version, moving them off others, or drop them ("-name")."""
        if not isinstance(changes, list) or not changes:
            raise ApiError(400, "versionAliases must be a non-empty list")
        added = [check_alias(c) for c in changes if not (isinstance(c, str) and c.startswith("-"))]
        removed = [check_alias(c[1:]) for c in changes if isinstance(c, str) and c.startswith("-")]
        if set(added) & set(removed):
            raise ApiError(400, f"aliases both added and removed: {sorted(set(added) & set(removed))}")
        if DEFAULT_ALIAS in removed:
            raise ApiError(400, "the default alias cannot be removed; add it to another version to move it")
        with self.store.transaction():
            for alias in added:
                self._move_alias(doc, alias, version)
            version["versionAliases"] = [a for a in version["versionAliases"] if a not in removed]
            version["versionUpdateTime"] = doc["updateTime"] = now()
            self.store.put(KIND, doc["id"], doc)
        return version

    def _move_alias(self, doc: ModelDoc, alias: str, target: VersionDoc) -> None:
        for entry in doc["versions"]:
            if alias in entry["versionAliases"] and entry is not target:
                entry["versionAliases"].remove(alias)
                entry["versionUpdateTime"] = now()
        if alias not in target["versionAliases"]:
            target["versionAliases"].append(alias)

    def update_version(self, doc: ModelDoc, version: VersionDoc, changes: dict, mask: list) -> None:
        allowed = {"displayName", "description", "versionDescription", "labels"}
        if not mask or not set(mask) <= allowed:
            raise ApiError(400, f"updateMask {mask} must name some of {sorted(allowed)}")
        for key in mask:
            if key == "labels":
                labels_field(changes, "model")
            else:
                text_field(changes, key, "model", required=key == "displayName")
        for key in mask:
            if key == "displayName":  # one display name per model, as on Vertex
                for entry in doc["versions"]:
                    entry["displayName"] = changes.get(key, "")
            version[key] = changes.get(key, {} if key == "labels" else "")
        version["versionUpdateTime"] = doc["updateTime"] = now()
        self.store.put(KIND, doc["id"], doc)

    def delete_version(self, doc: ModelDoc, version: VersionDoc) -> None:
        if len(doc["versions"]) == 1:
            raise ApiError(400, "cannot delete the only version of a model; delete the model", "FAILED_PRECONDITION")
        if DEFAULT_ALIAS in version["versionAliases"]:
            raise ApiError(
                400, "cannot delete the default version; move the default alias first", "FAILED_PRECONDITION"
            )
        doc["versions"].remove(version)
        doc["updateTime"] = now()
        self.store.put(KIND, doc["id"], doc)

    def delete_model(self, doc: ModelDoc) -> None:
        self.store.delete(KIND, doc["id"])
