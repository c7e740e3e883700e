"""Vertex AI JobService routes for JobService: create (and run), get, list, cancel, delete, logs.

States go PENDING -> RUNNING -> SUCCEEDED / FAILED / CANCELLED. A failed job's error.message carries the
replica's exit status and the tail of its log; GET customJobs/{id}:logs serves the whole log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from vertex_local.documents import CustomJobDoc
from vertex_local.errors import ApiError, rpc_status
from vertex_local.http.bodies import read_json
from vertex_local.state import StateStore
from vertex_local.vertex import job_runner
from vertex_local.vertex.fields import json_response, labels_field, location_path, now, text_field
from vertex_local.vertex.filters import compile_filter
from vertex_local.vertex.operations import EMPTY, Operations, typed

LOG = logging.getLogger("vertex_local.jobs")
KIND = "customJob"
DONE_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
FILTER_FIELDS = {"displayName", "state"}
ERROR_TAIL_LINES = 20  # log lines quoted in a failed job's error.message


class JobService:
    def __init__(self, store: StateStore, operations: Operations, gcs_root: Path, logs_dir: Path,
                 workdir: Path, base_env: Mapping[str, str]) -> None:  # fmt: skip
        self.store = store
        self.operations = operations
        self.gcs_root = gcs_root
        self.logs_dir = logs_dir
        self.workdir = workdir
        self.base_env = dict(base_env)
        self.processes: dict[str, dict[str, asyncio.subprocess.Process]] = {}
        self.stop_reasons: dict[str, tuple[str, dict[str, Any]]] = {}  # job id -> (final state, error)
        self.tasks: dict[str, asyncio.Task] = {}

    def doc(self, parent: str, job_id: str) -> CustomJobDoc:
        doc = self.store.get(KIND, job_id)
        if doc is None or doc["parent"] != parent:
            raise ApiError(404, f"customJob {parent}/customJobs/{job_id} not found")
        return doc

    def _update(self, job_id: str, **fields: Any) -> CustomJobDoc:
        doc = self.store.get(KIND, job_id) or {}
        doc.update(fields, updateTime=now())
        self.store.put(KIND, job_id, doc)
        return doc

    @staticmethod
    def render(doc: CustomJobDoc) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("id", "parent")}

    async def create(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        display_name = text_field(body, "displayName", "customJob", required=True)
        labels = labels_field(body, "customJob")
        job_spec = body.get("jobSpec")
        if not isinstance(job_spec, dict):
            raise ApiError(400, "customJob.jobSpec is required and must be an object")
        job_id = self.store.next_id()
        replicas = job_runner.plan_replicas(job_id, job_spec, self.gcs_root, self.base_env)
        stamp = now()
        doc = {"id": job_id, "parent": parent, "name": f"{parent}/customJobs/{job_id}",
               "displayName": display_name, "jobSpec": job_spec, "labels": labels,
               "state": "JOB_STATE_PENDING", "createTime": stamp, "updateTime": stamp}  # fmt: skip
        self.store.put(KIND, job_id, doc)
        self.tasks[job_id] = asyncio.create_task(self._run(job_id, replicas))
        self.tasks[job_id].add_done_callback(lambda _: self.tasks.pop(job_id, None))
        LOG.info(
            "customJob %s (%s): %d replica(s), %s",
            job_id,
            display_name,
            len(replicas),
            replicas[0].argv,
        )
        return json_response(self.render(doc))

    async def _run(self, job_id: str, replicas: list[job_runner.Replica]) -> None:
        try:
            failure = await self._run_replicas(job_id, replicas)
        except Exception as exc:  # a bug of ours must still end the job, not leave it RUNNING
            LOG.exception("customJob %s: runner failed", job_id)
            failure = rpc_status("INTERNAL", f"vertex-local could not run the job: {type(exc).__name__}: {exc}")
        finally:
            await self._stop_all(job_id)
        if job_id in self.stop_reasons:
            state, error = self.stop_reasons.pop(job_id)
            self._update(job_id, state=state, error=error, endTime=now())
        elif failure:
            self._update(job_id, state="JOB_STATE_FAILED", error=failure, endTime=now())
        else:
            self._update(job_id, state="JOB_STATE_SUCCEEDED", endTime=now())
        LOG.info("customJob %s: %s", job_id, self.store.get(KIND, job_id)["state"])

    async def _run_replicas(self, job_id: str, replicas: list[job_runner.Replica]) -> dict[str, Any] | None:
        """Start every replica, wait for all; the first one to fail stops the rest. Returns the error."""
        if job_id in self.stop_reasons:
            return None
        self._update(job_id, state="JOB_STATE_RUNNING", startTime=now())
        running = self.processes.setdefault(job_id, {})
        for replica in replicas:
            try:
                running[replica.name] = await job_runner.start_replica(
                    replica, self.workdir, self._log(job_id, replica.name)
                )
            except OSError as exc:  # the command does not exist or cannot be executed
                message = f"{replica.name}: cannot start the job's command {replica.argv[0]!r}: {exc.strerror or exc}"
                return rpc_status("INVALID_ARGUMENT", message)
        waits = {asyncio.create_task(process.wait()): name for name, process in running.items()}
        while waits:
            finished, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                name, code = waits.pop(task), task.result()
                if code != 0:
                    for task in waits:
                        task.cancel()
                    tail = job_runner.tail(self._log(job_id, name), ERROR_TAIL_LINES)
                    message = f"{job_runner.describe_exit(name, code)} Last log lines:\n{tail}"
                    return rpc_status("INVALID_ARGUMENT", message)
        return None

    async def _stop_all(self, job_id: str) -> None:
        processes = self.processes.pop(job_id, {})
        await asyncio.gather(*(job_runner.stop_replica(process) for process in processes.values()))

    def _log(self, job_id: str, replica: str) -> Path:
        return self.logs_dir / job_id / f"{replica}.log"

    async def get(self, request: Request) -> Response:
        return json_response(self.render(self.doc(location_path(request), request.path_params["job"])))

    async def list(self, request: Request) -> Response:
        matches = compile_filter(request.query_params.get("filter", ""), FILTER_FIELDS)
        parent = location_path(request)
        jobs = [self.render(doc) for doc in self.store.list(KIND) if doc["parent"] == parent]
        return json_response({"customJobs": [job for job in jobs if matches(job)]})

    async def cancel(self, request: Request) -> Response:
        doc = self.doc(location_path(request), request.path_params["job"])
        if doc["state"] in DONE_STATES or doc["id"] not in self.tasks:
            raise ApiError(400, f"customJob {doc['name']} is {doc['state']}; nothing to cancel", "FAILED_PRECONDITION")
        self.stop_reasons[doc["id"]] = ("JOB_STATE_CANCELLED", rpc_status("CANCELLED", "CANCELED"))
        self._update(doc["id"], state="JOB_STATE_CANCELLING")
        for process in self.processes.get(doc["id"], {}).values():
            asyncio.create_task(job_runner.stop_replica(process))  # noqa: RUF006 - _run awaits the processes
        return json_response({})

    async def delete(self, request: Request) -> Response:
        parent = location_path(request)
        doc = self.doc(parent, request.path_params["job"])
        if doc["state"] not in DONE_STATES:
            raise ApiError(400, f"customJob {doc['name']} is {doc['state']}; cancel it first", "FAILED_PRECONDITION")
        self.store.delete(KIND, doc["id"])
        return json_response(self.operations.completed(parent, typed(EMPTY)))

    async def logs(self, request: Request) -> Response:
        """The job's log, every replica's in turn; ?tail=N keeps the last N lines of each."""
        doc = self.doc(location_path(request), request.path_params["job"])
        wanted = request.query_params.get("tail", "")
        if wanted and not wanted.isdigit():
            raise ApiError(400, f"tail must be a number of lines, got {wanted!r}")
        files = sorted((self.logs_dir / doc["id"]).glob("*.log"))
        parts = []
        for path in files:
            text = job_runner.tail(path, int(wanted)) if wanted else path.read_text("utf-8", "replace")
            parts.append(f"==> {path.stem} <==\n{text}" if len(files) > 1 else text)
        return PlainTextResponse("\n".join(parts))

    def recover(self) -> int:
        """After a restart: jobs that were running when the server died can no longer finish."""
        stale = [doc for doc in self.store.list(KIND) if doc["state"] not in DONE_STATES]
        for doc in stale:
            error = rpc_status("ABORTED", "vertex-local restarted while the job was running")
            self._update(doc["id"], state="JOB_STATE_FAILED", error=error, endTime=now())
        return len(stale)

    async def shutdown(self) -> None:
        """Stop every running job's processes; the jobs end FAILED, saying why."""
        for job_id in list(self.tasks):
            error = rpc_status("ABORTED", "vertex-local stopped while the job was running")
            self.stop_reasons.setdefault(job_id, ("JOB_STATE_FAILED", error))
        await asyncio.gather(*(self._stop_all(job_id) for job_id in list(self.processes)))
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
