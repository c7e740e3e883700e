"""A CreateBatchPredictionJob body checked as Vertex checks it: formats, Cloud Storage URIs, machines and replicas.

check_request(body, limits) returns what the job runs (BatchRequest) or raises ApiError(400) naming the field.
Sources, cited beside each rule: the v1 REST reference of BatchPredictionJob
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs), of
BatchDedicatedResources and of ManualBatchTuningParameters; machines.py holds the machine type rules.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.vertex.fields import json_type
from vertex_local.vertex.machines import PREDICTION, check_machine_spec, integer

# The formats google-cloud-aiplatform sends (constants.BATCH_PREDICTION_*_STORAGE_FORMATS); vertex-local reads
# and writes JSON Lines only.
INPUT_FORMATS = {"jsonl", "csv", "tf-record", "tf-record-gzip", "bigquery", "file-list"}
OUTPUT_FORMATS = {"jsonl", "csv", "bigquery"}
LOCAL_FORMAT = "jsonl"
GCS_URI = re.compile(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])/(?P<name>.*)")
# BatchDedicatedResources.maxReplicaCount: "The default value is 10."
DEFAULT_MAX_REPLICAS = 10
# ManualBatchTuningParameters.batchSize: "The default value is 64."
DEFAULT_BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class BatchRequest:
    model: str  # the resource name as sent, maybe with @version or @alias
    input_uris: tuple[str, ...]  # gs:// URIs; a '*' in the object name is a wildcard
    output_prefix: str  # gs://BUCKET[/PATH]
    batch_size: int
    resources: dict[str, Any]  # dedicatedResources with Vertex's defaults filled in


def gcs_uri(value: Any, where: str, object_required: bool) -> str:
    match = GCS_URI.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, str) and not object_required and GCS_URI.fullmatch(value.rstrip("/") + "/"):
        return value.rstrip("/")
    if match is None or (object_required and not match["name"]):
        raise ApiError(400, f"{where}: {value!r} is not a gs://BUCKET/OBJECT URI")
    return value


def check_input(config: Any) -> tuple[str, ...]:
    """inputConfig: "Required"; instancesFormat "Required"; gcsSource.uris "Required ... May contain wildcards"."""
    if not isinstance(config, dict):
        raise ApiError(400, "batchPredictionJob.inputConfig is required and must be an object")
    fmt = config.get("instancesFormat")
    if fmt not in INPUT_FORMATS:
        where = "batchPredictionJob.inputConfig.instancesFormat"
        raise ApiError(400, f"{where} {fmt!r} is not one of {sorted(INPUT_FORMATS)}")
    if fmt != LOCAL_FORMAT or "gcsSource" not in config:
        raise ApiError(400, f"batchPredictionJob.inputConfig: vertex-local reads {LOCAL_FORMAT} files from gcsSource "
                       f"only, not {fmt} (from {sorted(set(config) - {'instancesFormat'})})")  # fmt: skip
    uris = (config.get("gcsSource") or {}).get("uris") if isinstance(config.get("gcsSource"), dict) else None
    if not isinstance(uris, list) or not uris:
        raise ApiError(400, "batchPredictionJob.inputConfig.gcsSource.uris is required: a list of gs:// URIs")
    return tuple(gcs_uri(uri, "batchPredictionJob.inputConfig.gcsSource.uris", True) for uri in uris)


def check_output(config: Any) -> str:
    """outputConfig: "Required"; predictionsFormat "Required"; gcsDestination.outputUriPrefix "Required"."""
    if not isinstance(config, dict):
        raise ApiError(400, "batchPredictionJob.outputConfig is required and must be an object")
    fmt = config.get("predictionsFormat")
    if fmt not in OUTPUT_FORMATS:
        raise ApiError(400, f"batchPredictionJob.outputConfig.predictionsFormat {fmt!r} is not one of "
                       f"{sorted(OUTPUT_FORMATS)}")  # fmt: skip
    if fmt != LOCAL_FORMAT or "gcsDestination" not in config:
        raise ApiError(400, f"batchPredictionJob.outputConfig: vertex-local writes {LOCAL_FORMAT} to gcsDestination "
                       f"only, not {fmt}")  # fmt: skip
    destination = config["gcsDestination"]
    prefix = destination.get("outputUriPrefix") if isinstance(destination, dict) else None
    return gcs_uri(prefix, "batchPredictionJob.outputConfig.gcsDestination.outputUriPrefix", False)


def check_resources(resources: Any) -> dict[str, Any]:
    """dedicatedResources: "if the Model doesn't support AUTOMATIC_RESOURCES, this config must be provided" (ours
    support DEDICATED_RESOURCES only). startingReplicaCount "not greater than maxReplicaCount"; maxReplicaCount
    defaults to 10."""
    where = "batchPredictionJob.dedicatedResources"
    if resources is None:
        raise ApiError(400, f"{where} is required: the Model supports DEDICATED_RESOURCES only (give machine_type)")
    if not isinstance(resources, dict):
        raise ApiError(400, f"{where} must be an object, got {json_type(resources)}")
    spec = check_machine_spec(resources.get("machineSpec"), f"{where}.machineSpec", PREDICTION)
    most = integer(resources.get("maxReplicaCount"), f"{where}.maxReplicaCount", 0) or DEFAULT_MAX_REPLICAS
    starting = integer(resources.get("startingReplicaCount"), f"{where}.startingReplicaCount", 0) or most
    if starting > most:
        raise ApiError(400, f"{where}.startingReplicaCount {starting} is greater than maxReplicaCount {most}")
    return {**resources, "machineSpec": spec, "startingReplicaCount": starting, "maxReplicaCount": most}


def check_batch_size(tuning: Any, most: int) -> int:
    if tuning is None:
        return DEFAULT_BATCH_SIZE
    if not isinstance(tuning, dict):
        raise ApiError(400, "batchPredictionJob.manualBatchTuningParameters must be an object")
    size = integer(tuning.get("batchSize"), "batchPredictionJob.manualBatchTuningParameters.batchSize", 0)
    size = size or DEFAULT_BATCH_SIZE
    if size > most:  # vertex-local's own bound: one batch is one predict call ([serving] max_instances)
        raise ApiError(400, f"batchPredictionJob.manualBatchTuningParameters.batchSize {size} is more than the "
                       f"{most} instances vertex-local predicts at once ([serving] max_instances)")  # fmt: skip
    return size


def check_request(body: dict[str, Any], max_batch: int) -> BatchRequest:
    """The job to run, or ApiError(400) for the first field Vertex would refuse."""
    if body.get("unmanagedContainerModel"):
        raise ApiError(400, "batchPredictionJob.unmanagedContainerModel is not implemented by vertex-local; name "
                       "an uploaded model in batchPredictionJob.model")  # fmt: skip
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "batchPredictionJob.model is required: exactly one of model and unmanagedContainerModel "
                       "must be set")  # fmt: skip
    return BatchRequest(
        model=model,
        input_uris=check_input(body.get("inputConfig")),
        output_prefix=check_output(body.get("outputConfig")),
        batch_size=check_batch_size(body.get("manualBatchTuningParameters"), max_batch),
        resources=check_resources(body.get("dedicatedResources")),
    )


def split_gcs(uri: str) -> tuple[str, str]:
    """gs://BUCKET/NAME -> (BUCKET, NAME)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name
