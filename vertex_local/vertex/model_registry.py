"""The model registry's rules: versions, aliases and the `default` alias, on one document per model.

A model document holds every version, so moving an alias between versions is one write. Every change
re-reads the document inside one transaction, after the request body was read: no write is lost.
The rules are the v1 REST reference's (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.models
and the UploadModel, UpdateModel and MergeVersionAliases request pages), cited beside each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from vertex_local.documents import ModelDoc, VersionDoc
from vertex_local.errors import ApiError
from vertex_local.state import StateStore
from vertex_local.vertex.fields import display_name_field, json_type, labels_field, now, text_field

KIND = "model"
# Model.versionAliases: "The format is [a-z][a-zA-Z0-9-]{0,126}[a-z0-9]".
UPLOAD_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
# MergeVersionAliasesRequest.versionAliases: "match [a-z][a-zA-Z0-9-]{0,126}[a-z-0-9]" (so may end with '-');
# a leading '-' removes the alias and is not counted.
MERGE_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]")
# UploadModelRequest.modelId: "up to 63 characters, and valid characters are [a-z0-9_-]. The first character
# cannot be a number or hyphen."
MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
DEFAULT_ALIAS = "default"
# Fields of an uploaded Model that belong to the version; displayName and description belong to the model.
VERSION_FIELDS = ("versionDescription", "artifactUri", "containerSpec", "labels", "predictSchemata",
                  "metadataSchemaUri", "metadata", "explanationSpec")  # fmt: skip
# UpdateModelRequest: "Supported model fields: display_name, description; supported version-specific fields:
# version_description. Labels are supported in both scenarios."
MODEL_UPDATABLE = {"displayName", "description", "labels"}
VERSION_UPDATABLE = {"versionDescription", "labels"}


def check_alias(alias: Any, pattern: re.Pattern[str] = UPLOAD_ALIAS) -> str:
    if not isinstance(alias, str) or not pattern.fullmatch(alias):
        raise ApiError(400, f"invalid version alias {alias!r}: must match {pattern.pattern}")
    return alias


def split_name(name: str) -> tuple[str, str | None]:
    """'ID' -> (ID, None); 'ID@2' or 'ID@alias' -> (ID, '2' / 'alias'); 'ID@-' -> (ID, '-')."""
    model_id, _, version = name.partition("@")
    if "@" in version or (_ and not version):
        raise ApiError(400, f"invalid model name {name!r}")
    return model_id, version or None


def normalized(doc: ModelDoc) -> ModelDoc:
    """A stored model with its model-level fields, also when written by an earlier vertex-local."""
    first = doc["versions"][0] if doc["versions"] else {}
    doc.setdefault("displayName", first.get("displayName", ""))
    doc.setdefault("description", first.get("description", ""))
    doc.setdefault("labels", {})
    return doc


def merged_labels(doc: ModelDoc, version: VersionDoc) -> dict[str, str]:
    """UpdateModelRequest: "Both the model labels and the version labels are merged when a model is returned."
    Which wins on a shared key is not documented; here the version's does (README: unverified)."""
    return {**doc.get("labels", {}), **version.get("labels", {})}


def checked_upload(model: dict[str, Any]) -> list[str]:
    """400 for an uploaded Model whose kept fields are malformed; returns its versionAliases."""
    display_name_field(model, "model")
    for key in ("artifactUri", "description", "versionDescription", "metadataSchemaUri"):
        text_field(model, key, "model")
    labels_field(model, "model")
    for key in ("containerSpec", "predictSchemata", "explanationSpec"):
        if key in model and not isinstance(model[key], dict):
            raise ApiError(400, f"model.{key} must be an object, got {json_type(model[key])}")
    aliases = model.get("versionAliases") or []
    if not isinstance(aliases, list):
        raise ApiError(400, f"model.versionAliases must be a list of strings, got {json_type(aliases)}")
    aliases = [check_alias(alias) for alias in aliases]
    if len(set(aliases)) != len(aliases):
        raise ApiError(400, f"versionAliases has duplicates: {aliases}")
    artifact = model.get("artifactUri", "")
    if artifact and not artifact.startswith("gs://"):
        raise ApiError(400, f"model.artifactUri must be a gs:// URI, got {artifact!r}")
    return aliases


def alias_changes(changes: Any) -> tuple[list[str], list[str]]:
    """MergeVersionAliases' list as (added, removed); an alias both added and removed cancels out
    ("Adding and deleting the same alias in the request is not recommended, and the 2 operations will be
    cancelled out")."""
    if not isinstance(changes, list) or not changes:
        raise ApiError(400, "versionAliases must be a non-empty list")
    added = [check_alias(c, MERGE_ALIAS) for c in changes if not (isinstance(c, str) and c.startswith("-"))]
    removed = [check_alias(c[1:], MERGE_ALIAS) for c in changes if isinstance(c, str) and c.startswith("-")]
    both = set(added) & set(removed)
    return [a for a in added if a not in both], [r for r in removed if r not in both]


class ModelRegistry:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def model(self, parent: str, model_id: str) -> ModelDoc:
        doc = self.store.get(KIND, model_id)
        if doc is None or doc["parent"] != parent:
            raise ApiError(404, f"model {parent}/models/{model_id} not found")
        return normalized(doc)

    def models(self, parent: str) -> list[ModelDoc]:
        return [normalized(doc) for doc in self.store.list(KIND) if doc["parent"] == parent]

    def version(self, doc: ModelDoc, version: str | None) -> VersionDoc:
        """A version by id or alias; the default version when none is named."""
        wanted = version or DEFAULT_ALIAS
        for entry in doc["versions"]:
            if entry["versionId"] == wanted or wanted in entry["versionAliases"]:
                return entry
        raise ApiError(404, f"model {doc['parent']}/models/{doc['id']} has no version or alias {wanted!r}")

    def upload(self, parent: str, model: dict[str, Any], parent_model: str | None,
               model_id: str | None) -> tuple[ModelDoc, VersionDoc]:  # fmt: skip
        """Create a model, or a new version of `parent_model`; returns (doc, version)."""
        aliases = checked_upload(model)
        with self.store.transaction():
            doc = self.model(parent, parent_model) if parent_model else self._new_model(parent, model_id, model)
            version_id = str(doc["nextVersionId"])
            doc["nextVersionId"] += 1
            stamp = now()
            fields = {key: model[key] for key in VERSION_FIELDS if key in model}
            version = {**fields, "versionId": version_id, "versionAliases": [], "versionCreateTime": stamp,
                       "versionUpdateTime": stamp}  # fmt: skip
            doc["versions"].append(version)
            if len(doc["versions"]) == 1 and DEFAULT_ALIAS not in aliases:
                aliases.append(DEFAULT_ALIAS)  # a model's first version is always its default
            for alias in aliases:
                self._move_alias(doc, alias, version)
            doc["updateTime"] = stamp
            self.store.put(KIND, doc["id"], doc)
        return doc, version

    def _new_model(self, parent: str, model_id: str | None, model: dict[str, Any]) -> ModelDoc:
        if model_id:
            if not MODEL_ID.fullmatch(model_id):
                raise ApiError(400, f"invalid modelId {model_id!r}: up to 63 of [a-z0-9_-], not starting with "
                               "a digit or '-'")  # fmt: skip
            if self.store.get(KIND, model_id) is not None:
                raise ApiError(409, f"model {parent}/models/{model_id} already exists")
        stamp = now()
        return {"id": model_id or self.store.next_id(), "parent": parent, "createTime": stamp, "updateTime": stamp,
                "nextVersionId": 1, "versions": [], "displayName": model["displayName"],
                "description": model.get("description") or "", "labels": {}}  # fmt: skip

    def merge_aliases(self, parent: str, model_id: str, ref: str | None, changes: Any) -> tuple[ModelDoc, VersionDoc]:
        """Add aliases ("name") to a version, moving them off others, or drop them ("-name")."""
        added, removed = alias_changes(changes)
        if DEFAULT_ALIAS in removed:
            raise ApiError(400, "the default alias cannot be removed; add it to another version to move it")
        with self.store.transaction():
            doc = self.model(parent, model_id)
            version = self.version(doc, ref)
            for alias in added:
                self._move_alias(doc, alias, version)
            version["versionAliases"] = [a for a in version["versionAliases"] if a not in removed]
            version["versionUpdateTime"] = doc["updateTime"] = now()
            self.store.put(KIND, doc["id"], doc)
        return doc, version

    def _move_alias(self, doc: ModelDoc, alias: str, target: VersionDoc) -> None:
        for entry in doc["versions"]:
            if alias in entry["versionAliases"] and entry is not target:
                entry["versionAliases"].remove(alias)
                entry["versionUpdateTime"] = now()
        if alias not in target["versionAliases"]:
            target["versionAliases"].append(alias)

    def update(
        self, parent: str, model_id: str, ref: str | None, changes: dict, mask: list
    ) -> tuple[ModelDoc, VersionDoc]:
        """UpdateModel: `ref` names a version (its versionDescription, labels) or is None / '-' (the model's
        displayName, description, labels). A mask naming the other level's fields is FAILED_PRECONDITION."""
        model_level = ref in (None, "-")
        allowed = MODEL_UPDATABLE if model_level else VERSION_UPDATABLE
        if not mask:
            raise ApiError(400, f"updateMask is required: some of {sorted(MODEL_UPDATABLE | VERSION_UPDATABLE)}")
        if not set(mask) <= MODEL_UPDATABLE | VERSION_UPDATABLE:
            raise ApiError(400, f"updateMask {mask}: only {sorted(MODEL_UPDATABLE | VERSION_UPDATABLE)} can change")
        if not set(mask) <= allowed:
            level = "the model (name without @version)" if model_level else f"version {ref}"
            raise ApiError(400, f"updateMask {mask} names fields that {level} does not have: a model update "
                           f"takes {sorted(MODEL_UPDATABLE)}, a version update {sorted(VERSION_UPDATABLE)}",
                           "FAILED_PRECONDITION")  # fmt: skip
        values = {key: self._checked_value(changes, key) for key in mask}
        with self.store.transaction():
            doc = self.model(parent, model_id)
            version = self.version(doc, None if model_level else ref)
            (doc if model_level else version).update(values)
            version["versionUpdateTime"] = doc["updateTime"] = now()
            self.store.put(KIND, doc["id"], doc)
        return doc, version

    @staticmethod
    def _checked_value(changes: dict, key: str) -> Any:
        if key == "labels":
            return labels_field(changes, "model")
        if key == "displayName":
            return display_name_field(changes, "model")
        return text_field(changes, key, "model")

    def delete_version(
        self, parent: str, model_id: str, ref: str | None, refuse: Callable[[ModelDoc, str], None]
    ) -> None:
        """Delete one version; `refuse(doc, version id)` raises if it is deployed (checked in the transaction)."""
        with self.store.transaction():
            doc = self.model(parent, model_id)
            version = self.version(doc, ref)
            if len(doc["versions"]) == 1:
                raise ApiError(400, "cannot delete the only version of a model; delete the model",
                               "FAILED_PRECONDITION")  # fmt: skip
            if DEFAULT_ALIAS in version["versionAliases"]:
                raise ApiError(400, "cannot delete the default version; move the default alias first",
                               "FAILED_PRECONDITION")  # fmt: skip
            refuse(doc, version["versionId"])
            doc["versions"].remove(version)
            doc["updateTime"] = now()
            self.store.put(KIND, doc["id"], doc)

    def delete_model(self, parent: str, model_id: str, refuse: Callable[[ModelDoc, str | None], None]) -> None:
        with self.store.transaction():
            doc = self.model(parent, model_id)
            refuse(doc, None)
            self.store.delete(KIND, doc["id"])
