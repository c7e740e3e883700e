"""TrainingPipelines through the real SDK: the walkthrough's "Train new model" flow, as
CustomContainerTrainingJob(...).run() and CustomTrainingJob(...).run() send it, with a real backing CustomJob."""

from __future__ import annotations

import time

import pytest
import requests
from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform import training_jobs
from google.cloud.aiplatform.compat.types import job_state as gca_job_state
from google.cloud.aiplatform.compat.types import pipeline_state as gca_pipeline_state

from tests.support.custom_jobs import PREBUILT, job_logs
from tests.support.vertex_local_server import JOB_POLL_S, start_vertex_local

JobState = gca_job_state.JobState
PipelineState = gca_pipeline_state.PipelineState
# The walkthrough's prediction container: "Pre-built container, TensorFlow" (2.6 then; 2.15 is the newest now).
SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
TRAINING_IMAGE = "gcr.io/test-project/mnist_model:20211027"  # the walkthrough's image; vertex-local runs `command`
CUSTOM_TASK = "gs://google-cloud-aiplatform/schema/trainingjob/definition/custom_task_1.0.0.yaml"
# A stand-in for training: writes a file into the model directory named by its argument (a /gcs/ path).
WRITE_MODEL = (
    "import pathlib, sys; out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True); "
    "(out / 'saved_model.pb').write_bytes(b'weights')"
)


@pytest.fixture
def pipelines(vertex):
    """The session's server with the SDK's pipeline polling (5 s by default) as fast as its job polling."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training_jobs, "_JOB_WAIT_TIME", JOB_POLL_S)
        yield vertex


def container_job(
    name: str, command: list[str], image: str | None = SERVING_IMAGE
) -> aiplatform.CustomContainerTrainingJob:
    return aiplatform.CustomContainerTrainingJob(
        display_name=name, container_uri=TRAINING_IMAGE, command=command, model_serving_container_image_uri=image
    )


def run_writing_model(
    name: str, run_name: str = "run", **run: object
) -> tuple[aiplatform.CustomContainerTrainingJob, aiplatform.Model]:
    """A pipeline whose job writes a model under gs://test-bucket/pipelines/NAME/RUN_NAME/model; its model."""
    job = container_job(name, ["python", "-c", WRITE_MODEL])
    base = f"gs://test-bucket/pipelines/{name}/{run_name}"
    model = job.run(model_display_name=name, base_output_dir=base, args=[f"/gcs/{base[5:]}/model"], **run)
    return job, model


def backing_job(job: aiplatform.CustomContainerTrainingJob) -> aiplatform.CustomJob:
    return aiplatform.CustomJob.get(job.gca_resource.training_task_metadata["backingCustomJob"])


def wait_for(check, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_the_walkthrough_trains_in_a_pipeline_and_the_model_is_registered_with_its_serving_image(
    pipelines, unique_name
) -> None:
    job = container_job(unique_name, ["python", "-m", "trainer.task"])
    base = f"gs://test-bucket/walkthrough/{unique_name}"
    model = job.run(
        model_display_name=unique_name, base_output_dir=base, replica_count=1, machine_type="n1-standard-4",
        args=["--dataset", "mnist-sample", "--model", "baseline", "--epochs", "1"],
    )  # fmt: skip
    assert job.state == PipelineState.PIPELINE_STATE_SUCCEEDED
    assert isinstance(model, aiplatform.Model) and model.display_name == unique_name
    assert model.container_spec.image_uri == SERVING_IMAGE
    assert model.uri == f"{base}/model"  # baseOutputDirectory/model: where the job's $AIP_MODEL_DIR pointed
    assert model.version_id == "1" and list(model.version_aliases) == ["default"]
    uploaded = job.gca_resource.model_to_upload
    assert (uploaded.name, uploaded.version_id) == (model.resource_name, "1")
    # The registry lists it, as the walkthrough's Models tab does.
    assert [m.resource_name for m in aiplatform.Model.list(filter=f'display_name="{unique_name}"')] == [
        model.resource_name
    ]
    blobs = pipelines.storage_client().bucket("test-bucket").list_blobs(prefix=f"walkthrough/{unique_name}/model/")
    assert {"saved_model.pb", "metrics.json"} <= {blob.name.rsplit("/", 1)[1] for blob in blobs}
    # The training ran as a real CustomJob, listed beside the others.
    custom = backing_job(job)
    assert custom.state == JobState.JOB_STATE_SUCCEEDED
    assert custom.resource_name in [j.resource_name for j in aiplatform.CustomJob.list()]
    assert custom.job_spec.base_output_directory.output_uri_prefix == base
    assert "accuracy" in job_logs(pipelines, custom)


def test_a_run_with_parent_model_uploads_version_2_and_moves_the_aliases(pipelines, unique_name) -> None:
    model_id = unique_name.replace("-", "_")[:60]
    first_job, first = run_writing_model(unique_name, "first", model_id=model_id)
    assert first.resource_name.endswith(f"/models/{model_id}") and first.version_id == "1"
    assert first_job.gca_resource.model_id == model_id
    with pytest.raises(exceptions.Conflict, match="already exists"):
        run_writing_model(unique_name, "taken", model_id=model_id)

    job, second = run_writing_model(unique_name, "second", parent_model=model_id, model_version_aliases=["challenger"])
    assert second.resource_name == first.resource_name and second.version_id == "2"
    assert sorted(second.version_aliases) == ["challenger", "default"]  # is_default_version=True moves default
    assert job.gca_resource.parent_model == first.resource_name
    assert job.gca_resource.model_to_upload.version_id == "2"
    assert aiplatform.Model(f"{model_id}@1").version_aliases == []
    assert aiplatform.Model(f"{model_id}@challenger").uri.endswith("/second/model")
    assert len(second.versioning_registry.list_versions()) == 2


def test_a_pipeline_is_listed_by_display_name_and_state_and_deleted_once_ended(pipelines, unique_name) -> None:
    job, _ = run_writing_model(unique_name)
    found = aiplatform.CustomContainerTrainingJob.list(filter=f'display_name="{unique_name}"')
    assert [j.resource_name for j in found] == [job.resource_name]
    assert (
        aiplatform.CustomContainerTrainingJob.list(
            filter=f'display_name="{unique_name}" AND state!="PIPELINE_STATE_SUCCEEDED"'
        )
        == []
    )
    assert job.gca_resource.training_task_definition == CUSTOM_TASK
    custom = backing_job(job)
    job.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.CustomContainerTrainingJob.get(job.resource_name)
    assert aiplatform.CustomJob.get(custom.resource_name).state == JobState.JOB_STATE_SUCCEEDED  # the job stays


def test_cancel_stops_the_backing_job_and_the_pipeline_ends_cancelled(pipelines, unique_name) -> None:
    job = container_job(unique_name, ["python", "-c", "import time; print('training', flush=True); time.sleep(300)"])
    job.submit(model_display_name=unique_name, base_output_dir=f"gs://test-bucket/pipelines/{unique_name}")

    def training() -> bool:
        job.state  # noqa: B018 - reading it fetches the pipeline
        metadata = job.gca_resource.training_task_metadata
        return bool(metadata) and "training" in job_logs(pipelines, backing_job(job))

    wait_for(training, "started the job's process")
    assert job.state == PipelineState.PIPELINE_STATE_RUNNING
    with pytest.raises(exceptions.BadRequest, match="cancel it first"):
        job.delete()
    job.cancel()
    wait_for(lambda: job.state == PipelineState.PIPELINE_STATE_CANCELLED, "cancelled")
    assert job.error.code == 1  # google.rpc.Code.CANCELLED, as CancelTrainingPipeline says
    assert backing_job(job).state == JobState.JOB_STATE_CANCELLED
    assert not job.gca_resource.model_to_upload.name  # nothing was uploaded
    with pytest.raises(exceptions.BadRequest, match="nothing to cancel"):
        job.cancel()


def test_a_failing_job_fails_the_pipeline_with_the_jobs_error_and_registers_nothing(pipelines, unique_name) -> None:
    job = container_job(unique_name, ["python", "-c", "import sys; print('loss went NaN'); sys.exit(3)"])
    with pytest.raises(RuntimeError, match="Training failed with") as caught:
        job.run(model_display_name=unique_name, base_output_dir=f"gs://test-bucket/pipelines/{unique_name}")
    assert "non-zero status of 3" in str(caught.value) and "loss went NaN" in str(caught.value)
    assert job.state == PipelineState.PIPELINE_STATE_FAILED
    assert job.error.code == 3 and job.error.message == backing_job(job).error.message
    assert aiplatform.Model.list(filter=f'display_name="{unique_name}"') == []


def test_a_job_that_writes_no_model_fails_the_pipeline_naming_the_model_dir(pipelines, unique_name) -> None:
    job = container_job(unique_name, ["python", "-c", "print('forgot to save')"])
    base = f"gs://test-bucket/pipelines/{unique_name}"
    with pytest.raises(RuntimeError, match="Training failed with"):
        job.run(model_display_name=unique_name, base_output_dir=base)
    assert job.state == PipelineState.PIPELINE_STATE_FAILED
    assert job.error.code == 9 and f"{base}/model/" in job.error.message  # FAILED_PRECONDITION
    assert backing_job(job).state == JobState.JOB_STATE_SUCCEEDED
    assert aiplatform.Model.list(filter=f'display_name="{unique_name}"') == []


def test_a_script_run_by_custom_training_job_is_packaged_run_on_a_prebuilt_image_and_registered(
    pipelines, unique_name, tmp_path
) -> None:
    script = tmp_path / "task.py"
    script.write_text(WRITE_MODEL.replace("; ", "\n"))
    job = aiplatform.CustomTrainingJob(
        display_name=unique_name, script_path=str(script), container_uri=PREBUILT,
        model_serving_container_image_uri=SERVING_IMAGE,
    )  # fmt: skip
    base = f"gs://test-bucket/pipelines/{unique_name}"
    model = job.run(model_display_name=unique_name, base_output_dir=base, args=[f"/gcs/{base[5:]}/model"])
    assert model.uri == f"{base}/model" and model.container_spec.image_uri == SERVING_IMAGE
    spec = backing_job(job).job_spec.worker_pool_specs[0].python_package_spec
    assert spec.executor_image_uri == PREBUILT and spec.package_uris[0].endswith(".tar.gz")
    blob = pipelines.storage_client().bucket("test-bucket").blob(f"pipelines/{unique_name}/model/saved_model.pb")
    assert blob.download_as_bytes() == b"weights"


def test_a_training_machine_vertex_does_not_offer_is_refused_before_anything_runs(pipelines, unique_name) -> None:
    job = container_job(unique_name, ["python", "-c", WRITE_MODEL])
    with pytest.raises(exceptions.BadRequest, match=r"trainingTaskInputs.workerPoolSpecs\[0\].machineSpec"):
        job.run(model_display_name=unique_name, machine_type="n1-standard-2")
    assert aiplatform.CustomJob.list(filter=f'display_name="{unique_name}"') == []


MACHINE = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1}
CONTAINER = {**MACHINE, "container_spec": {"image_uri": TRAINING_IMAGE, "command": ["true"]}}
INPUTS = {"worker_pool_specs": [CONTAINER], "base_output_directory": {"output_uri_prefix": "gs://test-bucket/p"}}
MODEL = {"displayName": "m", "containerSpec": {"imageUri": SERVING_IMAGE}}


@pytest.mark.parametrize(
    ("change", "status", "problem"),
    [
        ({"trainingTaskDefinition": None}, 400, "trainingPipeline.trainingTaskDefinition is required"),
        ({"trainingTaskDefinition": CUSTOM_TASK.replace("custom_task", "no_such_task")}, 400,
         "is not a training task definition"),
        ({"trainingTaskDefinition": CUSTOM_TASK.replace("custom_task", "automl_tabular")}, 400,
         "AutoML training is not implemented"),
        ({"trainingTaskInputs": None}, 400, "Unable to parse `training_pipeline.training_task_inputs`"),
        ({"trainingTaskInputs": {**INPUTS, "worker_pools": []}}, 400, "not CustomJobSpec fields: workerPools"),
        ({"trainingTaskInputs": {**INPUTS, "worker_pool_specs": []}}, 400,
         "trainingTaskInputs.workerPoolSpecs must be a list of 1 to 4"),
        ({"trainingTaskInputs": {**INPUTS, "worker_pool_specs": [MACHINE]}}, 400,
         "trainingTaskInputs.workerPoolSpecs[0] needs exactly one of containerSpec and pythonPackageSpec"),
        ({"modelToUpload": {"displayName": "m"}}, 400, "trainingPipeline.modelToUpload.containerSpec.imageUri is "
         "required"),
        # A custom serving image is Vertex's to accept at upload (it is refused at deploy when vertex-local cannot
        # serve it: runtimes.serving_tf_version); a malformed one is not.
        ({"modelToUpload": {**MODEL, "containerSpec": {"imageUri": 5}}}, 400,
         "trainingPipeline.modelToUpload.containerSpec.imageUri must be a string"),
        ({"modelToUpload": {**MODEL, "artifactUri": "gs://test-bucket/elsewhere"}}, 400, "artifactUri is set by the"),
        ({"modelToUpload": MODEL, "trainingTaskInputs": {"worker_pool_specs": [CONTAINER]}}, 400,
         "baseOutputDirectory.outputUriPrefix is required with modelToUpload"),
        ({"modelToUpload": MODEL, "modelId": "9lives"}, 400, "invalid modelId"),
        ({"modelToUpload": MODEL, "modelId": "a", "parentModel": "b"}, 400, "set one of them"),
        ({"modelToUpload": MODEL, "parentModel": "no-such-model"}, 404, "no-such-model not found"),
        ({"parentModel": "no-such-model"}, 400, "set modelToUpload"),
        ({"inputDataConfig": {"datasetId": "1"}}, 400, "managed datasets are not implemented"),
        ({"displayName": None}, 400, "trainingPipeline.displayName is required"),
    ],
)  # fmt: skip
def test_requests_vertex_refuses_are_answered_in_googles_shape_and_start_nothing(
    vertex, unique_name, change, status, problem
) -> None:
    body = {"displayName": unique_name, "trainingTaskDefinition": CUSTOM_TASK, "trainingTaskInputs": INPUTS, **change}
    body = {key: value for key, value in body.items() if value is not None}
    jobs_before = len(requests.get(vertex.api("customJobs"), timeout=10).json()["customJobs"])
    answer = requests.post(vertex.api("trainingPipelines"), json=body, timeout=30)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == status and problem in error["message"], error
    assert error["status"] == ("NOT_FOUND" if status == 404 else "INVALID_ARGUMENT")
    listed = requests.get(vertex.api("trainingPipelines"), params={"filter": f'display_name="{unique_name}"'},
                          timeout=10)  # fmt: skip
    assert listed.json()["trainingPipelines"] == []
    assert len(requests.get(vertex.api("customJobs"), timeout=10).json()["customJobs"]) == jobs_before


def test_an_unknown_pipeline_is_not_found_by_name_and_none_are_listed_in_another_location(vertex) -> None:
    answer = requests.get(vertex.api("trainingPipelines/424242"), timeout=10)
    assert answer.status_code == 404 and answer.json()["error"]["status"] == "NOT_FOUND"
    assert answer.json()["error"]["message"] == f"trainingPipeline {vertex.parent}/trainingPipelines/424242 not found"
    elsewhere = f"{vertex.url}/v1/projects/{vertex.project}/locations/europe-west4/trainingPipelines"
    assert requests.get(elsewhere, timeout=10).json() == {"trainingPipelines": []}


@pytest.mark.live
def test_a_restart_fails_the_pipeline_that_was_running_and_stops_its_job(tmp_path) -> None:
    server = start_vertex_local(tmp_path / "state")
    try:
        command = ["python", "-c", "import time; print('training', flush=True); time.sleep(300)"]
        sleeper = {**CONTAINER, "container_spec": {"image_uri": TRAINING_IMAGE, "command": command}}
        body = {"displayName": "crash", "trainingTaskDefinition": CUSTOM_TASK,
                "trainingTaskInputs": {**INPUTS, "worker_pool_specs": [sleeper]}}  # fmt: skip
        created = requests.post(server.api("trainingPipelines"), json=body, timeout=30)
        assert created.status_code == 200, created.text
        pipeline_id = created.json()["name"].rsplit("/", 1)[1]

        def job_id() -> str | None:
            seen = requests.get(server.api(f"trainingPipelines/{pipeline_id}"), timeout=10).json()
            name = seen.get("trainingTaskMetadata", {}).get("backingCustomJob")
            return name.rsplit("/", 1)[1] if name else None

        def training() -> bool:
            found = job_id()
            return bool(found) and "training" in requests.get(server.api(f"customJobs/{found}:logs"), timeout=10).text

        wait_for(training, "started the job's process")
        server.kill()
        server.start()
        pipeline = requests.get(server.api(f"trainingPipelines/{pipeline_id}"), timeout=10).json()
        assert pipeline["state"] == "PIPELINE_STATE_FAILED" and pipeline["error"]["code"] == 10  # ABORTED
        assert "endTime" in pipeline
        job = requests.get(server.api(f"customJobs/{job_id()}"), timeout=10).json()
        assert job["state"] == "JOB_STATE_FAILED" and "restarted while the job was running" in job["error"]["message"]
    finally:
        server.stop()
