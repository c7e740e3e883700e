"""/gcs/BUCKET/... in a custom job's spec, Vertex's Cloud Storage FUSE mount: what it names is read through the
object store, what the job writes there lands in the bucket when it ends, a custom container's `pip install --user`
of a /gcs/ package stays in the job's workspace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from google.cloud.aiplatform.compat.types import job_state as gca_job_state

from tests.support.custom_jobs import custom_job, installed_in_server, job_logs, pool, wait_for_state
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import start_vertex_local
from tests.support.wheels import wheel
from vertex_local.vertex.jobs import gcs_io

JobState = gca_job_state.JobState
DEADLINE_S = 60.0
ROOT = Path("/state/jobs/7/workspace/gcs")
# Sums the numbers in a file, lists a folder, and writes both where it is told (as a job writes its model).
SUM_AND_LIST = """
import os, sys
data, folder, out = sys.argv[1:]
total = sum(int(line) for line in open(data))
names = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out, "w").write(f"{total} {names}")
open(os.path.join(folder, "data.txt"), "a").write("1\\n")
"""


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        ("/gcs/my-bucket/data.csv", f"{ROOT}/my-bucket/data.csv"),
        ("--data=/gcs/my-bucket/in/", f"--data={ROOT}/my-bucket/in/"),
        ("pip3 install -q --user /gcs/b-1/p.tar.gz && python3 -m m", f"pip3 install -q --user {ROOT}/b-1/p.tar.gz && "
                                                                    "python3 -m m"),
        ("'/gcs/bkt/a b'", f"'{ROOT}/bkt/a b'"),
        ("/gcs/bkt", f"{ROOT}/bkt"),
        ("http://host/gcs/bkt/x", "http://host/gcs/bkt/x"),  # part of a URL
        ("/data/gcs/bkt/x", "/data/gcs/bkt/x"),  # part of another path
        ("/gcs/", "/gcs/"),  # no bucket: the mount's root is not offered
        ("/gcs/UPPER/x", "/gcs/UPPER/x"),  # not a bucket name
    ],
)  # fmt: skip
def test_gcs_paths_in_a_spec_point_into_the_jobs_folder(text, rewritten) -> None:
    assert gcs_io.rewrite(text, ROOT) == rewritten


def test_references_name_the_bucket_and_the_path_after_it() -> None:
    found = gcs_io.references(["cat /gcs/bkt/a/b.txt; ls /gcs/bkt/c/", "/gcs/other", "gs://bkt/x"])
    assert found == {gcs_io.Reference("bkt", "a/b.txt"), gcs_io.Reference("bkt", "c/"),
                     gcs_io.Reference("other", "")}  # fmt: skip


def test_a_job_reads_what_its_gcs_paths_name_and_what_it_writes_there_lands_in_the_bucket(vertex, unique_name) -> None:
    bucket = vertex.storage_client().bucket(vertex.bucket)
    bucket.blob(f"{unique_name}/in/data.txt").upload_from_string("12\n30\n")
    bucket.blob(f"{unique_name}/in/more/extra.txt").upload_from_string("0\n")
    unchanged = bucket.blob(f"{unique_name}/in/more/extra.txt")
    unchanged.reload()
    mount = f"/gcs/{vertex.bucket}/{unique_name}"
    paths = [f"{mount}/in/data.txt", f"{mount}/in/", f"{mount}/out/result.txt"]
    job = custom_job(unique_name, pool(["python", "-c", SUM_AND_LIST], paths))
    job.run()
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert bucket.blob(f"{unique_name}/out/result.txt").download_as_text() == "42 ['data.txt', 'more/extra.txt']"
    assert bucket.blob(f"{unique_name}/in/data.txt").download_as_text() == "12\n30\n1\n"  # changed: written back
    assert bucket.get_blob(f"{unique_name}/in/more/extra.txt").generation == unchanged.generation  # not rewritten
    log = job_logs(vertex, job)
    assert f"vertex-local: wrote gs://{vertex.bucket}/{unique_name}/out/result.txt from /gcs/" in log
    assert f"{mount}/out/result.txt: nothing copied in" in log  # an output path: nothing there yet


def test_a_new_file_is_not_uploaded_over_an_object_another_client_wrote_while_the_job_ran(
    vertex, unique_name, tmp_path
) -> None:
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = ("import os, pathlib, sys, time\nout, ready, go = sys.argv[1:]\nos.makedirs(os.path.dirname(out))\n"
              "open(out, 'w').write('from the job')\npathlib.Path(ready).touch()\n"
              "while not os.path.exists(go):\n    time.sleep(0.02)\n")  # fmt: skip
    out = f"/gcs/{vertex.bucket}/{unique_name}/model/metrics.json"
    job = custom_job(unique_name, pool(["python", "-c", script], [out, str(ready), str(go)]))
    job.submit()
    deadline = time.monotonic() + DEADLINE_S
    while not ready.exists():
        assert time.monotonic() < deadline, "the job never wrote its file"
        time.sleep(0.05)
    blob = vertex.storage_client().bucket(vertex.bucket).blob(f"{unique_name}/model/metrics.json")
    blob.upload_from_string("from another client")
    go.touch()
    wait_for_state(job, {JobState.JOB_STATE_FAILED, JobState.JOB_STATE_SUCCEEDED})
    assert job.state == JobState.JOB_STATE_FAILED
    assert "written while the job ran" in job.error.message
    assert f"gs://{vertex.bucket}/{unique_name}/model/metrics.json" in job.error.message
    assert blob.download_as_text() == "from another client"


def test_a_custom_containers_pip_install_of_a_gcs_package_stays_in_the_jobs_workspace(
    vertex, unique_name, tmp_path
) -> None:
    files = {
        "vl_tool/__init__.py": "",
        "vl_tool/__main__.py": "import json, vl_tool; print(json.dumps(vl_tool.__file__))\n",
    }
    package = wheel(tmp_path, "vl_tool", files)
    name = f"{unique_name}/{package.name}"
    vertex.storage_client().bucket(vertex.bucket).blob(name).upload_from_filename(str(package))
    # What CustomJob.from_local_script sends for a custom container, minus the pip upgrade (it needs the index).
    command = f"pip3 install -q --user /gcs/{vertex.bucket}/{name} && python3 -m vl_tool"
    job = custom_job(unique_name, pool(["sh", "-c", command], []))
    job.run()
    installed_at = Path(json.loads(job_logs(vertex, job, tail=1)))
    workspace = vertex.state_dir / "jobs" / job.resource_name.rsplit("/", 1)[1] / "workspace" / "workerpool0-0"
    assert installed_at.is_relative_to(workspace / "user")  # PYTHONUSERBASE: the replica's own
    assert installed_in_server("vl_tool") == []
    assert not workspace.exists()


def test_a_file_written_into_a_bucket_that_does_not_exist_fails_the_job_naming_it(vertex, unique_name) -> None:
    missing = f"no-such-bucket-{unique_name[-8:]}"
    job = custom_job(unique_name, pool(["sh", "-c", f"echo hi > /gcs/{missing}/out.txt"], []))
    with pytest.raises(RuntimeError, match="not all uploaded"):
        job.run()
    assert f"gs://{missing}/out.txt: HTTP 404" in job.error.message
    assert f"bucket {missing} not found" in job_logs(vertex, job)  # noted before the job ran


@pytest.mark.live
def test_a_job_running_when_the_server_stops_fails_saying_its_gcs_files_were_not_uploaded(tmp_path) -> None:
    server = start_vertex_local(tmp_path / "state")
    try:
        written = tmp_path / "written"
        script = ("import os, pathlib, sys, time\nos.makedirs(os.path.dirname(sys.argv[1]))\n"
                  "open(sys.argv[1], 'w').write('partial')\n"
                  "pathlib.Path(sys.argv[2]).touch()\ntime.sleep(600)\n")  # fmt: skip
        pools = [{"machineSpec": {"machineType": "n1-standard-4"},
                  "containerSpec": {"imageUri": "x", "command": ["python", "-c", script],
                                    "args": [f"/gcs/{server.bucket}/stopped/out.txt", str(written)]}}]  # fmt: skip
        client = HttpClient(server.url)
        job = client.json("POST", f"/v1/{server.parent}/customJobs", {"displayName": "stop", "jobSpec": {
            "workerPoolSpecs": pools}}).json()["name"]  # fmt: skip
        deadline = time.monotonic() + DEADLINE_S
        while not written.exists():
            assert time.monotonic() < deadline, "the job never wrote its file"
            time.sleep(0.05)
        assert server.stop() == 0
        server.start()
        doc = HttpClient(server.url).request("GET", f"/v1/{job}").json()
        assert doc["state"] == "JOB_STATE_FAILED"
        assert doc["error"]["message"] == ("vertex-local stopped while the job was running; files the job wrote under "
                                           "/gcs/ were not uploaded")  # fmt: skip
        listed = HttpClient(server.url).request("GET", f"/storage/v1/b/{server.bucket}/o?prefix=stopped/").json()
        assert listed.get("items", []) == []
    finally:
        server.stop()
