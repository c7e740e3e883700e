"""Vertex AI JobService routes for custom jobs: create (and run), get, list, cancel, delete, logs.

States go PENDING -> RUNNING -> SUCCEEDED / FAILED / CANCELLED. RUNNING starts with the job's workspace (venvs,
packages, /gcs/ copies: workspace.py); when the replicas end, what they wrote under /gcs/ is uploaded and the
workspace removed. A failed job's error.message carries the replica's exit status and the tail of its log;
GET customJobs/{id}:logs streams the logs (vertex-local's own route: on Vertex they are in Cloud Logging). A restart
after a crash stops whatever a job left running (process_groups.py) and removes the workspaces left behind.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pipeline_config import Serving
from vertex_local.daemon import TOKEN_VARIABLE
from vertex_local.documents import CustomJobDoc
from vertex_local.errors import ApiError, rpc_status
from vertex_local.gcs import ObjectStore
from vertex_local.http.bodies import read_json
from vertex_local.http.inert import INERT_HEADERS
from vertex_local.numbers import is_ascii_digits
from vertex_local.state import StateStore
from vertex_local.vertex.fields import json_response, labels_field, location_path, now, text_field
from vertex_local.vertex.job_collection import JobCollection
from vertex_local.vertex.jobs import gcs_io, logs, process_groups, runner, workspace
from vertex_local.vertex.operations import Operations

LOG = logging.getLogger("vertex_local.jobs")
KIND = "customJob"
PROCESSES_KIND = "customJobProcesses"  # {"job", "processes": [process_groups.record(...)]} while replicas run
DONE_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
FILTER_FIELDS = {"displayName", "state"}
ERROR_TAIL_LINES = 20  # log lines quoted in a failed job's error.message


class JobService(JobCollection):
    KIND, DONE_STATES, FILTER_FIELDS = KIND, DONE_STATES, FILTER_FIELDS

    def __init__(self, store: StateStore, operations: Operations, objects: ObjectStore, logs_dir: Path,
                 workdir: Path, base_env: Mapping[str, str], storage_url: str, limits: Serving) -> None:  # fmt: skip
        self.store = store
        self.operations = operations
        self.objects = objects
        self.logs_dir = logs_dir
        self.workdir = workdir
        self.storage = gcs_io.StorageApi(storage_url, base_env.get(TOKEN_VARIABLE))  # /gcs/ write-back's uploads
        self.base_env = {**base_env, "STORAGE_EMULATOR_HOST": storage_url}  # how a job's storage client finds us
        self.log_read_limit = limits.max_log_read_bytes
        self.object_read_limit = limits.max_job_read_bytes
        self.closing = False  # set by shutdown(): this server's storage API no longer answers
        self.processes: dict[str, dict[str, asyncio.subprocess.Process]] = {}
        self.stop_reasons: dict[str, tuple[str, dict[str, Any]]] = {}  # job id -> (final state, error)
        self.tasks: dict[str, asyncio.Task] = {}

    def _update(self, job_id: str, **fields: Any) -> CustomJobDoc:
        """Change fields of the stored job: read, change and write in one transaction, so no other write is lost."""
        with self.store.transaction():
            doc = self.store.get(KIND, job_id)
            if doc is None:
                raise LookupError(f"customJob {job_id} is gone")
            doc.update(fields, updateTime=now())
            self.store.put(KIND, job_id, doc)
        return doc

    @staticmethod
    def render(doc: CustomJobDoc) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("id", "parent")}

    async def create(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        display_name, labels = text_field(body, "displayName", "customJob", True), labels_field(body, "customJob")
        job_spec = body.get("jobSpec")
        if not isinstance(job_spec, dict):
            raise ApiError(400, "customJob.jobSpec is required and must be an object")
        return json_response(self.render(self.submit(parent, display_name, labels, job_spec)))

    def check(self, job_spec: dict[str, Any]) -> None:
        """ApiError(400) for a jobSpec that submit() would refuse; nothing is stored or started."""
        runner.plan_job("0", job_spec, self.base_env, self.logs_dir / "0" / workspace.WORKSPACE)

    def submit(self, parent: str, display_name: str, labels: dict[str, str], job_spec: dict[str, Any]) -> CustomJobDoc:
        """Store a new job and start running it; ApiError(400) for a bad jobSpec (nothing stored then).
        A TrainingPipeline's backing job starts here too (training_pipelines.py)."""
        job_id = self.store.next_id()
        plan = runner.plan_job(job_id, job_spec, self.base_env, self.logs_dir / job_id / workspace.WORKSPACE)
        stamp = now()
        doc = {"id": job_id, "parent": parent, "name": f"{parent}/customJobs/{job_id}",
               "displayName": display_name, "jobSpec": job_spec, "labels": labels,
               "state": "JOB_STATE_PENDING", "createTime": stamp, "updateTime": stamp}  # fmt: skip
        self.store.put(KIND, job_id, doc)
        self.tasks[job_id] = asyncio.create_task(self._run(job_id, plan))
        self.tasks[job_id].add_done_callback(lambda _: self.tasks.pop(job_id, None))
        LOG.info("customJob %s (%s): %d replica(s) %s", job_id, display_name, len(plan.replicas), plan.replicas[0].argv)
        return doc

    async def wait(self, job_id: str) -> CustomJobDoc | None:
        """The job once it has ended (None if it was deleted); waiting is cancellable, the job runs on."""
        task = self.tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)
        return self.store.get(KIND, job_id)

    async def _run(self, job_id: str, plan: runner.JobPlan) -> None:
        prepared = workspace.Prepared([], {})
        try:
            prepared, failure = await self._prepare(job_id, plan)
            failure = failure or await self._run_replicas(job_id, plan.replicas)
        except Exception as exc:  # a bug of ours (or a full disk) must still end the job, not leave it RUNNING
            failure = internal_error(job_id, exc)
        finally:
            await self._stop_all(job_id)
        try:
            failure = await self._write_back(job_id, plan, prepared) or failure
        except Exception as exc:
            failure = internal_error(job_id, exc)
        finally:
            await asyncio.to_thread(workspace.remove, self.logs_dir / job_id)
        if job_id in self.stop_reasons:
            state, error = self.stop_reasons.pop(job_id)
            self._update(job_id, state=state, error=error, endTime=now())
        elif failure:
            self._update(job_id, state="JOB_STATE_FAILED", error=failure, endTime=now())
        else:
            self._update(job_id, state="JOB_STATE_SUCCEEDED", endTime=now())
        LOG.info("customJob %s: %s", job_id, self.store.get(KIND, job_id)["state"])

    async def _prepare(self, job_id: str, plan: runner.JobPlan) -> tuple[workspace.Prepared, dict | None]:
        """RUNNING, then the workspace; (what it holds, the error that fails the job before any replica starts)."""
        if job_id in self.stop_reasons:
            return workspace.Prepared([], {}), None
        self._update(job_id, state="JOB_STATE_RUNNING", startTime=now())
        try:
            prepared = await asyncio.to_thread(workspace.prepare, plan, self.objects, self.object_read_limit)
        except ValueError as exc:
            return workspace.Prepared([], {}), rpc_status("INVALID_ARGUMENT", str(exc))
        workspace.note(prepared.notes, [self._log(job_id, replica.name) for replica in plan.replicas])
        return prepared, None

    async def _write_back(self, job_id: str, plan: runner.JobPlan, prepared: workspace.Prepared) -> dict | None:
        """Upload what the job wrote under /gcs/, as the mount would have; the error that fails the job, if any."""
        if not plan.mounts:
            return None
        if self.closing:  # this server's storage API no longer answers: say so rather than lose the files quietly
            state, error = self.stop_reasons.get(job_id, ("JOB_STATE_FAILED", rpc_status("ABORTED", "stopped")))
            note = f"{error['message']}; files the job wrote under /gcs/ were not uploaded"
            self.stop_reasons[job_id] = (state, {**error, "message": note})
            return None
        log = self._log(job_id, plan.replicas[0].name)
        failed = await asyncio.to_thread(workspace.write_back, plan, prepared, self.storage, log)
        return rpc_status("INVALID_ARGUMENT", f"files under /gcs/ were not all uploaded: {failed}") if failed else None

    async def _run_replicas(self, job_id: str, replicas: list[runner.Replica]) -> dict[str, Any] | None:
        """Start every replica, wait for all; the first one to fail stops the rest. Returns the error."""
        if job_id in self.stop_reasons:
            return None
        running = self.processes.setdefault(job_id, {})
        for replica in replicas:
            try:
                running[replica.name] = await runner.start_replica(
                    replica, self.workdir, self._log(job_id, replica.name)
                )
            except OSError as exc:  # the command does not exist or cannot be executed
                message = f"{replica.name}: cannot start the job's command {replica.argv[0]!r}: {exc.strerror or exc}"
                return rpc_status("INVALID_ARGUMENT", message)
            self._record_processes(job_id, running)
        failed = await runner.first_failure(running)
        if failed is None:
            return None
        tail = logs.tail_text(self._log(job_id, failed[0]), ERROR_TAIL_LINES)
        return rpc_status("INVALID_ARGUMENT", f"{runner.describe_exit(*failed)} Last log lines:\n{tail}")

    def _record_processes(self, job_id: str, running: dict[str, asyncio.subprocess.Process]) -> None:
        """Store what identifies each replica's process group, for the restart after a crash."""
        saved = [process_groups.record(name, process.pid) for name, process in running.items()]
        self.store.put(PROCESSES_KIND, job_id, {"job": job_id, "processes": [entry for entry in saved if entry]})

    async def _stop_all(self, job_id: str) -> None:
        processes = self.processes.pop(job_id, {})
        await asyncio.gather(*(runner.stop_replica(process) for process in processes.values()))
        self.store.delete(PROCESSES_KIND, job_id)

    def _log(self, job_id: str, replica: str) -> Path:
        return self.logs_dir / job_id / f"{replica}.log"

    async def cancel(self, request: Request) -> Response:
        doc = self.doc(location_path(request), request.path_params["job"])
        if doc["state"] in DONE_STATES or doc["id"] not in self.tasks:
            raise ApiError(400, f"customJob {doc['name']} is {doc['state']}; nothing to cancel", "FAILED_PRECONDITION")
        self.stop(doc)
        return json_response({})

    def stop(self, doc: CustomJobDoc) -> None:
        """Start cancelling a running job: CANCELLING now, CANCELLED once its replicas have stopped."""
        self.stop_reasons[doc["id"]] = ("JOB_STATE_CANCELLED", rpc_status("CANCELLED", "CANCELED"))
        self._update(doc["id"], state="JOB_STATE_CANCELLING")
        for process in self.processes.get(doc["id"], {}).values():
            asyncio.create_task(runner.stop_replica(process))  # noqa: RUF006 - _run awaits the processes

    async def deleted(self, doc: CustomJobDoc) -> None:
        """A deleted job's logs go with it."""
        await asyncio.to_thread(shutil.rmtree, self.logs_dir / doc["id"], True)

    async def logs(self, request: Request) -> Response:
        """Every replica's log in turn; ?tail=N keeps the last N lines of each. At most [serving]
        max_log_read_bytes in all, split between the replicas, counted back from each end (logs.py)."""
        doc = self.doc(location_path(request), request.path_params["job"])
        wanted = request.query_params.get("tail", "")
        if wanted and not is_ascii_digits(wanted):
            raise ApiError(400, f"tail must be a number of lines, got {wanted!r}")
        files = sorted((self.logs_dir / doc["id"]).glob("*.log"))
        budget = self.log_read_limit // max(1, len(files))
        parts = await asyncio.to_thread(lambda: [logs.plan(path, int(wanted) if wanted else None, budget)
                                                 for path in files])  # fmt: skip
        printed = logs.stream(files, parts)  # what the job printed: stored bytes, inert like objects
        return StreamingResponse(printed, media_type="text/plain; charset=utf-8", headers=INERT_HEADERS)

    def recover(self) -> int:
        """After a restart: stop the processes jobs left behind; jobs that were running can no longer finish."""
        stopped = 0
        for saved in self.store.list(PROCESSES_KIND):
            stopped += process_groups.stop_leftovers(saved["processes"], saved["job"])
            self.store.delete(PROCESSES_KIND, saved["job"])
        if (removed := workspace.remove_all(self.logs_dir)) or stopped:
            LOG.warning("restart: stopped %d process(es) that custom jobs left running; removed %d custom job "
                        "workspace(s)", stopped, removed)  # fmt: skip
        stale = [doc for doc in self.store.list(KIND) if doc["state"] not in DONE_STATES]
        for doc in stale:
            error = rpc_status("ABORTED", "vertex-local restarted while the job was running; its processes are stopped")
            self._update(doc["id"], state="JOB_STATE_FAILED", error=error, endTime=now())
        return len(stale)

    async def shutdown(self) -> None:
        """Stop every running job's processes; the jobs end FAILED, saying why."""
        self.closing = True
        for job_id in list(self.tasks):
            error = rpc_status("ABORTED", "vertex-local stopped while the job was running")
            self.stop_reasons.setdefault(job_id, ("JOB_STATE_FAILED", error))
        await asyncio.gather(*(self._stop_all(job_id) for job_id in list(self.processes)))
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def internal_error(job_id: str, exc: Exception) -> dict[str, Any]:
    LOG.exception("customJob %s: runner failed", job_id)
    return rpc_status("INTERNAL", f"vertex-local could not run the job: {type(exc).__name__}: {exc}")
