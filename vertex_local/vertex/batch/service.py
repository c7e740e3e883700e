"""Vertex AI JobService routes for batch prediction jobs: create (and run), get, list, cancel, delete.

A job goes PENDING -> RUNNING -> SUCCEEDED / FAILED / CANCELLED. It runs as its own process (worker.py) in
its own process group, set to die with the server and recorded for the restart after a crash, as custom jobs
are (jobs/execution.py, jobs/process_groups.py). The worker streams the inputs and writes local files; the server then
uploads them, as Vertex lays them out, into gcsDestination.outputUriPrefix/prediction-<model display
name>-<create time>/ (the time as YYYY_MM_DDThh_mm_ss_sssZ, as real jobs' folders show it):
prediction.results-00000-of-00001 ({"instance", "prediction"} lines) and prediction.errors_stats-00000-of-00001
(the lines that failed). A job with some bad lines SUCCEEDS with completionStats.failedCount set; one whose
inputs cannot be found, or that predicted nothing, FAILS. Inputs that could not be read while others could are
listed in partialFailures ("For example, single files that can't be read", the REST reference).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pipeline_config import Serving
from vertex_local.daemon import TOKEN_VARIABLE
from vertex_local.errors import ApiError, rpc_status
from vertex_local.gcs import ObjectStore
from vertex_local.http.bodies import read_json
from vertex_local.state import StateStore
from vertex_local.vertex.batch.requests import BatchRequest, check_request, split_gcs
from vertex_local.vertex.fields import json_response, labels_field, location_path, now, text_field
from vertex_local.vertex.job_collection import JobCollection
from vertex_local.vertex.jobs import gcs_io, logs, process_groups, runner
from vertex_local.vertex.model_registry import ModelRegistry, split_name
from vertex_local.vertex.operations import Operations

LOG = logging.getLogger("vertex_local.batch")
KIND = "batchPredictionJob"
PROCESSES_KIND = "batchPredictionJobProcesses"
DONE_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
FILTER_FIELDS = {"displayName", "state"}
RESULTS, ERRORS = "prediction.results-00000-of-00001", "prediction.errors_stats-00000-of-00001"
ERROR_TAIL_LINES = 20
MAX_PARTIAL_FAILURES = 20  # BatchPredictionJob.partialFailures: "This field never exceeds 20 entries."


@dataclasses.dataclass(frozen=True)
class Settings:
    workspaces: Path  # one folder per running job
    workdir: Path  # the repository root: where `python -m vertex_local...` finds the package
    base_env: Mapping[str, str]
    storage_url: str
    limits: Serving


def folder_name(model_display_name: str, create_time: str) -> str:
    """prediction-<model-display-name>-<job-create-time>, the time as 2021_08_17T01_39_36_439Z."""
    stamp = create_time[:23].replace("-", "_").replace(":", "_").replace(".", "_") + "Z"
    return f"prediction-{model_display_name}-{stamp}"


class BatchPredictionService(JobCollection):
    KIND, DONE_STATES, FILTER_FIELDS = KIND, DONE_STATES, FILTER_FIELDS

    def __init__(self, store: StateStore, operations: Operations, objects: ObjectStore, registry: ModelRegistry,
                 settings: Settings) -> None:  # fmt: skip
        self.store, self.operations, self.objects, self.registry = store, operations, objects, registry
        self.settings = settings
        self.storage = gcs_io.StorageApi(settings.storage_url, settings.base_env.get(TOKEN_VARIABLE))
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.stop_reasons: dict[str, tuple[str, dict[str, Any]]] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def _update(self, job_id: str, **fields: Any) -> dict[str, Any]:
        with self.store.transaction():
            doc = self.store.get(KIND, job_id)
            if doc is None:
                raise LookupError(f"batchPredictionJob {job_id} is gone")
            doc.update(fields, updateTime=now())
            self.store.put(KIND, job_id, doc)
        return doc

    @staticmethod
    def render(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("id", "parent", "artifactUri", "modelDisplayName")}

    async def create(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        display_name = text_field(body, "displayName", "batchPredictionJob", True)
        labels = labels_field(body, "batchPredictionJob")
        wanted = check_request(body, self.settings.limits.max_instances)
        model_id, ref = split_name(wanted.model.removeprefix(f"{parent}/models/"))
        model = self.registry.model(parent, model_id)  # 404 for a model that is not there, as Vertex answers
        version = self.registry.version(model, ref)
        job_id, stamp = self.store.next_id(), now()
        doc = {**{key: body[key] for key in ("inputConfig", "outputConfig", "manualBatchTuningParameters")
                  if key in body},
               "id": job_id, "parent": parent, "name": f"{parent}/batchPredictionJobs/{job_id}",
               "displayName": display_name, "model": f"{parent}/models/{model_id}",
               "modelVersionId": version["versionId"], "dedicatedResources": wanted.resources, "labels": labels,
               "state": "JOB_STATE_PENDING", "createTime": stamp, "updateTime": stamp,
               "artifactUri": version.get("artifactUri", ""), "modelDisplayName": model["displayName"]}  # fmt: skip
        self.store.put(KIND, job_id, doc)
        self.tasks[job_id] = asyncio.create_task(self._run(job_id, wanted))
        self.tasks[job_id].add_done_callback(lambda _: self.tasks.pop(job_id, None))
        LOG.info("batchPredictionJob %s (%s): model %s@%s", job_id, display_name, model_id, version["versionId"])
        return json_response(self.render(doc))

    async def _run(self, job_id: str, wanted: BatchRequest) -> None:
        workspace = self.settings.workspaces / job_id
        try:
            fields = await self._work(job_id, wanted, workspace)
        except Exception as exc:  # a bug of ours (or a full disk) must still end the job, not leave it RUNNING
            LOG.exception("batchPredictionJob %s: runner failed", job_id)
            fields = failed(rpc_status("INTERNAL", f"vertex-local could not run the job: {type(exc).__name__}: {exc}"))
        finally:
            await self._stop(job_id)
            await asyncio.to_thread(shutil.rmtree, workspace, True)
        if job_id in self.stop_reasons:
            state, error = self.stop_reasons.pop(job_id)
            fields = {**fields, "state": state, "error": error}
        self._update(job_id, **fields, endTime=now())
        LOG.info("batchPredictionJob %s: %s", job_id, fields["state"])

    async def _work(self, job_id: str, wanted: BatchRequest, workspace: Path) -> dict[str, Any]:
        """Run the job to its end; the fields its document ends with."""
        doc = self._update(job_id, state="JOB_STATE_RUNNING", startTime=now())
        inputs, missing = await asyncio.to_thread(self._find_inputs, wanted.input_uris)
        if not inputs:
            return failed(rpc_status("NOT_FOUND", f"No files found matching {', '.join(missing)}"), incomplete=-1)
        output_bucket, output_path = split_gcs(wanted.output_prefix)
        try:
            self.objects.bucket(output_bucket)
            await asyncio.to_thread(self.objects.copy_prefix, doc["artifactUri"], workspace / "model")
        except (ApiError, ValueError) as exc:
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            return failed(rpc_status("FAILED_PRECONDITION", message), incomplete=-1)
        spec = {"model_dir": str(workspace / "model"), "inputs": inputs, "storage_url": self.settings.storage_url,
                "results": str(workspace / RESULTS), "errors": str(workspace / ERRORS),
                "stats": str(workspace / "stats.json"), "batch_size": wanted.batch_size,
                "max_line_bytes": self.settings.limits.max_body_bytes}  # fmt: skip
        code = await self._start_and_wait(job_id, spec, workspace / "worker.log")
        if job_id in self.stop_reasons:
            return {"state": "JOB_STATE_CANCELLED"}
        if code != 0:
            tail = logs.tail_text(workspace / "worker.log", ERROR_TAIL_LINES)
            return failed(rpc_status("INTERNAL", f"{runner.describe_exit('batch-0', code)} Log:\n{tail}"), -1)
        stats = json.loads((workspace / "stats.json").read_text())
        own_folder = folder_name(doc["modelDisplayName"], doc["createTime"])
        folder = f"{output_path.rstrip('/')}/{own_folder}" if output_path.strip("/") else own_folder
        for name in (RESULTS, ERRORS):
            await asyncio.to_thread(gcs_io.upload, self.storage, workspace / name, output_bucket, f"{folder}/{name}",
                                    True)  # fmt: skip
        return self._ended(stats, missing, f"gs://{output_bucket}/{folder}")

    @staticmethod
    def _ended(stats: dict[str, Any], missing: list[str], directory: str) -> dict[str, Any]:
        partial = [rpc_status("NOT_FOUND", f"No files found matching {uri}") for uri in missing] + stats["unreadable"]
        counts = {"successfulCount": str(stats["successfulCount"]), "failedCount": str(stats["failedCount"]),
                  "incompleteCount": "0"}  # fmt: skip
        fields: dict[str, Any] = {"outputInfo": {"gcsOutputDirectory": directory}, "completionStats": counts}
        if partial:
            fields["partialFailures"] = partial[:MAX_PARTIAL_FAILURES]
        if stats["successfulCount"] == 0:
            error = rpc_status("INVALID_ARGUMENT", f"no instance was predicted: {stats['failedCount']} failed (see "
                               f"{directory}/{ERRORS})")  # fmt: skip
            return {**fields, "state": "JOB_STATE_FAILED", "error": error}
        return {**fields, "state": "JOB_STATE_SUCCEEDED"}

    def _find_inputs(self, uris: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """(gs:// URIs of the objects the input URIs name, wildcards expanded; the URIs that named none)."""
        found, missing = [], []
        for uri in uris:
            bucket, name = split_gcs(uri)
            literal = name.split("*", 1)[0]
            try:
                names = [n for n in self.objects.names(bucket, literal) if fnmatch.fnmatchcase(n, name)]
            except ApiError:  # no such bucket
                names = []
            found += [f"gs://{bucket}/{n}" for n in names if not n.endswith("/")]
            if not names:
                missing.append(uri)
        return found, missing

    async def _start_and_wait(self, job_id: str, spec: dict[str, Any], log_path: Path) -> int:
        if job_id in self.stop_reasons:
            return 0
        python = sys.executable
        launcher = (python, "-I", runner.JOB_EXEC, str(os.getpid()), "[]", python, python, "-m",
                    "vertex_local.vertex.batch.worker", json.dumps(spec))  # fmt: skip
        env = {**self.settings.base_env, "CLOUD_ML_JOB_ID": job_id, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": str(self.settings.workdir)}  # fmt: skip
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *launcher, cwd=self.settings.workdir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes[job_id] = process
        saved = process_groups.record("batch-0", process.pid)
        self.store.put(PROCESSES_KIND, job_id, {"job": job_id, "processes": [saved] if saved else []})
        return await process.wait()

    async def _stop(self, job_id: str) -> None:
        process = self.processes.pop(job_id, None)
        if process is not None:
            await runner.stop_replica(process)
        self.store.delete(PROCESSES_KIND, job_id)

    async def cancel(self, request: Request) -> Response:
        """ "On a successful cancellation, the BatchPredictionJob is not deleted; instead its state is set to
        CANCELLED. Any files already outputted by the job are not deleted." (batchPredictionJobs.cancel)"""
        doc = self.doc(location_path(request), request.path_params["job"])
        if doc["state"] in DONE_STATES or doc["id"] not in self.tasks:
            raise ApiError(400, f"batchPredictionJob {doc['name']} is {doc['state']}; nothing to cancel",
                           "FAILED_PRECONDITION")  # fmt: skip
        self.stop_reasons[doc["id"]] = ("JOB_STATE_CANCELLED", rpc_status("CANCELLED", "CANCELED"))
        self._update(doc["id"], state="JOB_STATE_CANCELLING")
        if (process := self.processes.get(doc["id"])) is not None:
            asyncio.create_task(runner.stop_replica(process))  # noqa: RUF006 - _run awaits the process
        return json_response({})

    def recover(self) -> int:
        """After a restart: stop what jobs left running; those jobs end FAILED."""
        for saved in self.store.list(PROCESSES_KIND):
            process_groups.stop_leftovers(saved["processes"], saved["job"])
            self.store.delete(PROCESSES_KIND, saved["job"])
        shutil.rmtree(self.settings.workspaces, ignore_errors=True)
        stale = [doc for doc in self.store.list(KIND) if doc["state"] not in DONE_STATES]
        for doc in stale:
            error = rpc_status("ABORTED", "vertex-local restarted while the job was running; its process is stopped")
            self._update(doc["id"], state="JOB_STATE_FAILED", error=error, endTime=now())
        return len(stale)

    async def shutdown(self) -> None:
        for job_id in list(self.tasks):
            error = rpc_status("ABORTED", "vertex-local stopped while the job was running")
            self.stop_reasons.setdefault(job_id, ("JOB_STATE_FAILED", error))
        await asyncio.gather(*(self._stop(job_id) for job_id in list(self.processes)))
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def failed(error: dict[str, Any], incomplete: int = 0) -> dict[str, Any]:
    """The fields of a job that failed as a whole; incompleteCount -1: "unknown" (CompletionStats)."""
    stats = {"successfulCount": "0", "failedCount": "0", "incompleteCount": str(incomplete)}
    return {"state": "JOB_STATE_FAILED", "error": error, "completionStats": stats}
