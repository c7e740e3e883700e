"""Vertex AI PipelineService routes for training pipelines: create (and run), get, list, cancel, delete.

What `aiplatform.CustomContainerTrainingJob(...).run()` (and CustomTrainingJob, CustomPythonPackageTrainingJob)
create, and what the console's "Train new model" makes. A pipeline goes PIPELINE_STATE_QUEUED -> PENDING ->
RUNNING -> SUCCEEDED / FAILED / CANCELLED (CANCELLING between). RUNNING starts with its backing CustomJob, a real
one (service.py: listed under customJobs, with its logs), named in trainingTaskMetadata.backingCustomJob. When
the job succeeds and the pipeline has a modelToUpload, the model is uploaded from baseOutputDirectory/model as
models:upload uploads one (model_registry.py), as a new model (modelId) or a new version of parentModel, and the
pipeline's modelToUpload shows the uploaded model's name and versionId. A failed job fails the pipeline with the
job's error; a cancelled one cancels it with error code 1 (CANCELLED), as the CancelTrainingPipeline reference says.
https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.trainingPipelines
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vertex_local.documents import TrainingPipelineDoc
from vertex_local.errors import ApiError, rpc_status
from vertex_local.gcs import ObjectStore, split_uri
from vertex_local.http.bodies import read_json
from vertex_local.state import StateStore
from vertex_local.vertex.fields import display_name_field, json_response, labels_field, location_path, now
from vertex_local.vertex.job_collection import JobCollection
from vertex_local.vertex.jobs import training_tasks
from vertex_local.vertex.jobs.service import JobService
from vertex_local.vertex.model_registry import KIND as MODEL_KIND
from vertex_local.vertex.model_registry import ModelRegistry
from vertex_local.vertex.operations import Operations

LOG = logging.getLogger("vertex_local.pipelines")
KIND = "trainingPipeline"
QUEUED, PENDING, RUNNING = "PIPELINE_STATE_QUEUED", "PIPELINE_STATE_PENDING", "PIPELINE_STATE_RUNNING"
SUCCEEDED, FAILED = "PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED"
CANCELLING, CANCELLED = "PIPELINE_STATE_CANCELLING", "PIPELINE_STATE_CANCELLED"
DONE_STATES = {SUCCEEDED, FAILED, CANCELLED}
# ListTrainingPipelinesRequest.filter: display_name, state, training_task_definition and labels (=, !=).
FILTER_FIELDS = {"displayName", "state", "trainingTaskDefinition"}
JOB_OUTCOMES = {"JOB_STATE_SUCCEEDED": SUCCEEDED, "JOB_STATE_CANCELLED": CANCELLED}


class TrainingPipelineService(JobCollection):
    KIND, DONE_STATES, FILTER_FIELDS, PATH_PARAM = KIND, DONE_STATES, FILTER_FIELDS, "pipeline"

    def __init__(self, store: StateStore, operations: Operations, jobs: JobService, registry: ModelRegistry,
                 objects: ObjectStore, on_upload: Callable[[], None], own_image: str = "",
                 today: Callable[[], datetime.date] = datetime.date.today) -> None:  # fmt: skip
        self.store = store
        self.operations = operations
        self.jobs = jobs
        self.registry = registry
        self.objects = objects
        self.on_upload = on_upload  # a deploy usually follows an upload: get TensorFlow ready (ModelService)
        self.own_image = own_image  # this repository's serving image, by name (runtimes.py)
        self.today = today  # the date the prebuilt-image table is read at (AppConfig.today)
        self.tasks: dict[str, asyncio.Task] = {}
        self.cancelled: set[str] = set()

    @staticmethod
    def render(doc: TrainingPipelineDoc) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("id", "parent", "modelPlan")}

    def _update(self, pipeline_id: str, **fields: Any) -> TrainingPipelineDoc:
        """Change stored fields in one transaction. A pipeline being cancelled stays CANCELLING until it ends."""
        with self.store.transaction():
            doc = self.store.get(KIND, pipeline_id)
            if doc is None:
                raise LookupError(f"trainingPipeline {pipeline_id} is gone")
            if doc["state"] == CANCELLING and fields.get("state") not in DONE_STATES:
                fields.pop("state", None)
            doc.update(fields, updateTime=now())
            self.store.put(KIND, pipeline_id, doc)
        return doc

    async def create(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        display_name = display_name_field(body, "trainingPipeline")
        labels = labels_field(body, "trainingPipeline")
        definition = training_tasks.check_definition(body)
        training_tasks.refuse_unimplemented(body)
        job_spec = training_tasks.custom_job_spec(body.get("trainingTaskInputs"))
        try:
            self.jobs.check(job_spec)
        except ApiError as exc:
            raise training_tasks.job_spec_error(exc) from None
        plan = training_tasks.model_plan(body, parent, job_spec, self.own_image, self.today())
        if plan and plan.parent_id:
            self.registry.model(parent, plan.parent_id)  # 404 now, not after the training
        if plan and plan.model_id and self.store.get(MODEL_KIND, plan.model_id) is not None:
            raise ApiError(409, f"model {parent}/models/{plan.model_id} already exists")  # as models:upload answers
        pipeline_id, stamp = self.store.next_id(), now()
        doc = {"id": pipeline_id, "parent": parent, "name": f"{parent}/trainingPipelines/{pipeline_id}",
               "displayName": display_name, "trainingTaskDefinition": definition, "trainingTaskInputs": job_spec,
               "labels": labels, "state": QUEUED, "createTime": stamp, "updateTime": stamp}  # fmt: skip
        if plan:
            doc |= {"modelToUpload": body["modelToUpload"], "modelPlan": dataclasses.asdict(plan)}
            doc |= {key: value for key, value in (("modelId", plan.model_id), ("parentModel", body.get("parentModel")))
                    if value}  # fmt: skip
        self.store.put(KIND, pipeline_id, doc)
        self.tasks[pipeline_id] = asyncio.create_task(self._run(pipeline_id))
        self.tasks[pipeline_id].add_done_callback(lambda _: self.tasks.pop(pipeline_id, None))
        LOG.info("trainingPipeline %s (%s) queued", pipeline_id, display_name)
        return json_response(self.render(doc))

    async def _run(self, pipeline_id: str) -> None:
        try:
            state, fields = await self._train(pipeline_id)
        except Exception as exc:  # a bug of ours (or a full disk) must still end the pipeline, not leave it RUNNING
            LOG.exception("trainingPipeline %s: runner failed", pipeline_id)
            state, fields = FAILED, {"error": rpc_status("INTERNAL", f"vertex-local could not run the pipeline: "
                                                         f"{type(exc).__name__}: {exc}")}  # fmt: skip
        self.cancelled.discard(pipeline_id)
        self._update(pipeline_id, state=state, endTime=now(), **fields)
        LOG.info("trainingPipeline %s: %s", pipeline_id, state)

    async def _train(self, pipeline_id: str) -> tuple[str, dict[str, Any]]:
        """PENDING, the backing job (RUNNING), then the upload; the final state and the fields it sets."""
        doc = self._update(pipeline_id, state=PENDING)
        if pipeline_id in self.cancelled:
            return CANCELLED, {"error": rpc_status("CANCELLED", "CANCELED")}
        if self.jobs.closing:
            return FAILED, {"error": rpc_status("ABORTED", "vertex-local stopped before the pipeline's job started")}
        job = self.jobs.submit(doc["parent"], doc["displayName"], doc["labels"], doc["trainingTaskInputs"])
        metadata = {"backingCustomJob": job["name"]}
        self._update(pipeline_id, state=RUNNING, startTime=now(), trainingTaskMetadata=metadata)
        if pipeline_id in self.cancelled:  # cancelled while the job was being created
            self.jobs.stop(job)
        ended = await self.jobs.wait(job["id"])
        outcome = JOB_OUTCOMES.get(ended["state"], FAILED) if ended else FAILED
        if outcome == CANCELLED:
            return CANCELLED, {"error": rpc_status("CANCELLED", "CANCELED")}
        if outcome == FAILED:
            error = (ended or {}).get("error") or rpc_status("INTERNAL", f"the backing job {job['name']} was lost")
            return FAILED, {"error": error}
        if "modelPlan" not in doc:
            return SUCCEEDED, {}
        return self._upload(doc)

    def _upload(self, doc: TrainingPipelineDoc) -> tuple[str, dict[str, Any]]:
        """Upload what the job wrote under baseOutputDirectory/model, as models:upload does; FAILED when it wrote
        nothing (or the parent model went away meanwhile)."""
        plan = training_tasks.ModelPlan(**doc["modelPlan"])
        artifact = plan.model["artifactUri"]
        bucket, prefix = split_uri(artifact + "/")
        try:
            written = [name for name in self.objects.names(bucket, prefix) if not name.endswith("/")]
            if not written:
                raise ApiError(400, f"the job wrote no files to {artifact}/ ($AIP_MODEL_DIR): there is no model to "
                               "upload", "FAILED_PRECONDITION")  # fmt: skip
            model, version = self.registry.upload(doc["parent"], plan.model, plan.parent_id, plan.model_id)
        except ApiError as exc:
            return FAILED, {"error": rpc_status(exc.status, exc.message)}
        self.on_upload()
        name = f"{doc['parent']}/models/{model['id']}"
        uploaded = {**doc["modelToUpload"], "name": name, "versionId": version["versionId"],
                    "versionAliases": version["versionAliases"]}  # fmt: skip
        LOG.info("trainingPipeline %s: uploaded %s@%s from %s", doc["id"], name, version["versionId"], artifact)
        return SUCCEEDED, {"modelToUpload": uploaded}

    async def cancel(self, request: Request) -> Response:
        """Start cancelling: CANCELLING now; CANCELLED once the backing job has stopped."""
        doc = self.doc(location_path(request), request.path_params["pipeline"])
        if doc["state"] in DONE_STATES or doc["id"] not in self.tasks:
            raise ApiError(400, f"trainingPipeline {doc['name']} is {doc['state']}; nothing to cancel",
                           "FAILED_PRECONDITION")  # fmt: skip
        self.cancelled.add(doc["id"])
        self._update(doc["id"], state=CANCELLING)
        job_name = doc.get("trainingTaskMetadata", {}).get("backingCustomJob")
        job = self.store.get("customJob", job_name.rsplit("/", 1)[1]) if job_name else None
        if job is not None and job["id"] in self.jobs.tasks and job["state"] != "JOB_STATE_CANCELLING":
            self.jobs.stop(job)
        return json_response({})

    def recover(self) -> int:
        """After a restart: pipelines that were running can no longer finish (their jobs were stopped)."""
        stale = [doc for doc in self.store.list(KIND) if doc["state"] not in DONE_STATES]
        for doc in stale:
            error = rpc_status("ABORTED", "vertex-local restarted while the pipeline was running")
            self._update(doc["id"], state=FAILED, error=error, endTime=now())
        return len(stale)

    async def shutdown(self) -> None:
        """After JobService.shutdown has ended every job: let the pipelines record how theirs ended."""
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
