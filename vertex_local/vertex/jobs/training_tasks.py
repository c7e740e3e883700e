"""A TrainingPipeline's request, checked as Vertex checks it at create: its task definition, inputs and model.

https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.trainingPipelines: trainingTaskDefinition
names a YAML file under gs://google-cloud-aiplatform/schema/trainingjob/definition/, trainingTaskInputs holds that
definition's `inputs`. The one definition vertex-local runs is the custom task (custom_task_1.0.0.yaml), whose
inputs are a CustomJobSpec: the pipeline runs them as a CustomJob (trainingTaskMetadata.backingCustomJob) and, when
modelToUpload is set, uploads the model the job wrote under baseOutputDirectory/model (AIP_MODEL_DIR).
The inputs are a protobuf Struct, so their keys arrive as the client wrote them: the SDK's CustomTrainingJob
classes write snake_case (training_jobs.py: "worker_pool_specs", "base_output_directory"), and Vertex parses
them into a CustomJobSpec, which takes either spelling. A key that is not a CustomJobSpec field fails that parse.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.vertex import runtimes
from vertex_local.vertex.fields import json_type, resource_id, snake_to_camel, text_field
from vertex_local.vertex.jobs.runner import output_env
from vertex_local.vertex.model_registry import MODEL_ID, checked_upload, split_name

DEFINITIONS = "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
CUSTOM_TASK = DEFINITIONS + "custom_task_1.0.0.yaml"
# The other definitions the SDK names (google/cloud/aiplatform/schema.py): AutoML and forecasting, trained by
# Google's own models on Vertex datasets, which vertex-local has neither of.
AUTOML_TASKS = ("automl_tabular", "automl_time_series_forecasting", "seq2seq_plus_time_series_forecasting",
                "temporal_fusion_transformer_time_series_forecasting", "time_series_dense_encoder_forecasting",
                "automl_image_classification", "automl_image_object_detection", "automl_text_classification",
                "automl_text_extraction", "automl_text_sentiment", "automl_video_action_recognition",
                "automl_video_classification", "automl_video_object_tracking")  # fmt: skip
# CustomJobSpec's fields (v1): the custom task's inputs.
CUSTOM_JOB_SPEC_FIELDS = frozenset({
    "persistentResourceId", "workerPoolSpecs", "scheduling", "serviceAccount", "network", "reservedIpRanges",
    "pscInterfaceConfig", "baseOutputDirectory", "protectedArtifactLocationId", "tensorboard", "enableWebAccess",
    "enableDashboardAccess", "experiment", "experimentRun", "models",
})  # fmt: skip
# The message Vertex answers when the inputs do not parse as the custom task's `inputs` (python-aiplatform
# issue 762, GoogleCloudPlatform/generative-ai pull 2495: "400 Unable to parse ...").
UNPARSED = (
    "Unable to parse `training_pipeline.training_task_inputs` into custom task `inputs` defined in the file: "
    + CUSTOM_TASK
)
REFUSED_FIELDS = {
    "inputDataConfig": "Vertex managed datasets are not implemented by vertex-local; read the data in the job",
    "encryptionSpec": "customer-managed encryption keys are not implemented by vertex-local",
}
MODEL_SUBDIR = "model"  # Vertex uploads the model from baseOutputDirectory/model: the job's AIP_MODEL_DIR


@dataclasses.dataclass(frozen=True)
class ModelPlan:
    """What the pipeline uploads once its job has succeeded."""

    model: dict[str, Any]  # modelToUpload as given, with the artifactUri the service sets
    model_id: str | None  # a new model's id (modelId)
    parent_id: str | None  # the model the upload becomes a version of (parentModel)


def check_definition(body: dict[str, Any]) -> str:
    definition = text_field(body, "trainingTaskDefinition", "trainingPipeline", required=True)
    if definition == CUSTOM_TASK:
        return definition
    name = definition.removeprefix(DEFINITIONS).rsplit("_", 1)[0]
    if definition.startswith(DEFINITIONS) and name in AUTOML_TASKS:
        raise ApiError(400, f"trainingPipeline.trainingTaskDefinition {definition!r}: AutoML training is not "
                       f"implemented by vertex-local; it runs custom training only ({CUSTOM_TASK})")  # fmt: skip
    raise ApiError(400, f"trainingPipeline.trainingTaskDefinition {definition!r} is not a training task definition "
                   f"(they are under {DEFINITIONS}); vertex-local runs {CUSTOM_TASK}")  # fmt: skip


def refuse_unimplemented(body: dict[str, Any]) -> None:
    for key, why in REFUSED_FIELDS.items():
        if body.get(key):
            raise ApiError(400, f"trainingPipeline.{key}: {why}")


def custom_job_spec(inputs: Any) -> dict[str, Any]:
    """The custom task's inputs as the CustomJobSpec they are, keys in camelCase; 400 when they do not parse."""
    if not isinstance(inputs, dict):
        raise ApiError(400, f"{UNPARSED} (trainingTaskInputs must be an object, got {json_type(inputs)})")
    spec = camel_keys(inputs)
    unknown = sorted(set(spec) - CUSTOM_JOB_SPEC_FIELDS)
    if unknown:
        raise ApiError(400, f"{UNPARSED} (not CustomJobSpec fields: {', '.join(unknown)})")
    return spec


def camel_keys(value: Any) -> Any:
    """A Struct read as the proto JSON parser reads it into a CustomJobSpec: object keys in camelCase (it takes
    snake_case ones too), and whole numbers as integers. A Struct holds every number as a double, so the SDK's
    replica_count=1 arrives as 1.0; the parser takes a double with no fraction for an integer field, and
    CustomJobSpec has no double fields."""
    if isinstance(value, dict):
        return {snake_to_camel(key): camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def job_spec_error(exc: ApiError) -> ApiError:
    """A CustomJobSpec error (job_runner / job_pools name the field under jobSpec.) named as the pipeline's field."""
    message = exc.message.replace("jobSpec.", "trainingPipeline.trainingTaskInputs.")
    return ApiError(exc.code, message, exc.status)


def model_plan(body: dict[str, Any], parent: str, job_spec: dict[str, Any], own_image: str,
               today: datetime.date) -> ModelPlan | None:  # fmt: skip
    """modelToUpload, modelId and parentModel, checked as models:upload checks them; None when no model is
    uploaded. The artifact is the job's AIP_MODEL_DIR, so baseOutputDirectory is required with a model."""
    model_id = text_field(body, "modelId", "trainingPipeline") or None
    parent_model = text_field(body, "parentModel", "trainingPipeline") or None
    model = body.get("modelToUpload")
    if model is None:
        if model_id or parent_model:
            raise ApiError(400, "trainingPipeline.modelId and parentModel name the model to upload: set modelToUpload")
        return None
    if not isinstance(model, dict):
        raise ApiError(400, f"trainingPipeline.modelToUpload must be an object, got {json_type(model)}")
    if model.get("artifactUri"):
        raise ApiError(400, "trainingPipeline.modelToUpload.artifactUri is set by the pipeline: the custom task "
                       "uploads what the job wrote to baseOutputDirectory/model ($AIP_MODEL_DIR); leave it "
                       "out")  # fmt: skip
    base = output_env(job_spec).get("AIP_MODEL_DIR")
    if base is None:
        raise ApiError(400, "trainingPipeline.trainingTaskInputs.baseOutputDirectory.outputUriPrefix is required "
                       "with modelToUpload: the model is uploaded from baseOutputDirectory/model")  # fmt: skip
    model = {**model, "artifactUri": base.rstrip("/")}
    try:  # the rules of models:upload, named as this request's fields
        runtimes.check_upload_image(model.get("containerSpec"), own_image, today)
        checked_upload(model)
    except ApiError as exc:
        raise ApiError(exc.code, exc.message.replace("model.", "trainingPipeline.modelToUpload.", 1)) from None
    if model_id and parent_model:
        raise ApiError(400, "trainingPipeline.modelId names a new model; parentModel adds a version to an existing "
                       "one: set one of them")  # fmt: skip
    if model_id and not MODEL_ID.fullmatch(model_id):
        raise ApiError(400, f"invalid modelId {model_id!r}: up to 63 of [a-z0-9_-], not starting with a digit or '-'")
    parent_id = None
    if parent_model:
        parent_id, version = split_name(resource_id(parent_model, "models", parent))
        if version:
            raise ApiError(400, f"trainingPipeline.parentModel {parent_model!r} names a version; name the model")
    return ModelPlan(model, model_id, parent_id)
