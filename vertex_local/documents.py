"""The resource documents vertex-local stores (vertex_local/state.py), one TypedDict per kind, in one place.

Field names are the Vertex AI v1 REST names (camelCase), so a document renders as its resource with few
changes. `id` and `parent` locate it; keys a resource does not show (`serving`, `pendingResponse`,
`nextVersionId`) are ours and never rendered.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class VersionDoc(TypedDict):
    """One version of a model, with the uploaded Model fields we keep (model_registry.VERSION_FIELDS).

    `labels` are the version's own; a read shows them merged over the model's (ModelDoc.labels).
    `displayName` and `description` belong to the model: state written before they moved there keeps them here.
    """

    versionId: str
    versionAliases: list[str]
    versionCreateTime: str
    versionUpdateTime: str
    displayName: NotRequired[str]
    description: NotRequired[str]
    versionDescription: NotRequired[str]
    artifactUri: NotRequired[str]
    containerSpec: NotRequired[dict[str, Any]]
    labels: NotRequired[dict[str, str]]
    predictSchemata: NotRequired[dict[str, Any]]
    metadataSchemaUri: NotRequired[str]
    metadata: NotRequired[Any]
    explanationSpec: NotRequired[dict[str, Any]]


class ModelDoc(TypedDict):
    """A model and every version of it: moving an alias between versions is one write.

    displayName, description and labels are the model's own (an UpdateModel without a version changes them);
    NotRequired only because state written by earlier vertex-local lacks them (model_registry.normalized).
    """

    id: str
    parent: str  # projects/P/locations/L
    createTime: str
    updateTime: str
    nextVersionId: int
    versions: list[VersionDoc]
    displayName: NotRequired[str]
    description: NotRequired[str]
    labels: NotRequired[dict[str, str]]


class DeployedModelDoc(TypedDict):
    """An endpoint's DeployedModel, as the API shows it."""

    id: str
    model: str  # projects/P/locations/L/models/ID, without a version
    modelVersionId: str
    displayName: str
    createTime: NotRequired[str]
    dedicatedResources: NotRequired[dict[str, Any]]
    automaticResources: NotRequired[dict[str, Any]]


class ServingEntry(TypedDict):
    """What a restart needs to load a deployed model again (never rendered)."""

    artifactUri: str
    modelDisplayName: str
    container: NotRequired[dict[str, Any]]  # how its serving container starts (vertex/containers.py), if it has one


class EndpointDoc(TypedDict):
    id: str
    parent: str
    displayName: str
    description: str
    labels: dict[str, str]
    createTime: str
    updateTime: NotRequired[str]
    deployedModels: list[DeployedModelDoc]
    trafficSplit: dict[str, int]  # deployed model id -> percent; sums to 100, or empty
    serving: dict[str, ServingEntry]  # deployed model id -> artifact and display name


class OperationDoc(TypedDict):
    """A google.longrunning.Operation; `pendingResponse` is the answer a restart gives it once committed."""

    name: str
    done: bool
    metadata: NotRequired[dict[str, Any]]  # the call's *OperationMetadata, with genericMetadata's times
    response: NotRequired[dict[str, Any]]
    error: NotRequired[dict[str, Any]]
    pendingResponse: NotRequired[dict[str, Any]]


class CustomJobDoc(TypedDict):
    id: str
    parent: str
    name: str
    displayName: str
    jobSpec: dict[str, Any]
    labels: dict[str, str]
    state: str  # JOB_STATE_*
    createTime: str
    updateTime: str
    startTime: NotRequired[str]
    endTime: NotRequired[str]
    error: NotRequired[dict[str, Any]]


class TrainingPipelineDoc(TypedDict):
    """A TrainingPipeline; `modelPlan` (training_tasks.ModelPlan: the checked upload) is ours, never rendered."""

    id: str
    parent: str
    name: str
    displayName: str
    trainingTaskDefinition: str
    trainingTaskInputs: dict[str, Any]  # the CustomJobSpec, keys in camelCase
    labels: dict[str, str]
    state: str  # PIPELINE_STATE_*
    createTime: str
    updateTime: str
    trainingTaskMetadata: NotRequired[dict[str, Any]]  # {"backingCustomJob": name}, once the job exists
    modelToUpload: NotRequired[dict[str, Any]]  # as given; with name and versionId once uploaded
    modelId: NotRequired[str]
    parentModel: NotRequired[str]
    modelPlan: NotRequired[dict[str, Any]]
    startTime: NotRequired[str]
    endTime: NotRequired[str]
    error: NotRequired[dict[str, Any]]
