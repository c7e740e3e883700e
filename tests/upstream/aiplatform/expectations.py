"""Which of google-cloud-aiplatform's system tests vertex-local cannot pass, and why (read by plugin.py).

DESELECTED are never run: the SDK sends them past any api_endpoint, they need a serving framework other than
TensorFlow, or running them would change this machine's own Python. EXPECTED_FAILURES run, and fail for a
reason named here (a run that passes one says so). Node ids are relative to tests/system/aiplatform/.
"""

from __future__ import annotations

DESELECTED = {
    "test_model_interactions.py::TestModelInteractions::test_prediction": (
        "Endpoint.raw_predict and predict(use_raw_predict=True) post to "
        "https://{location}-aiplatform.googleapis.com whatever api_endpoint says (models.py, raw_predict)"
    ),
    "test_model_interactions.py::TestModelInteractions::test_endpoint_predict_async": (
        "predict_async uses the async client, which falls back to gRPC without async REST credentials "
        "(initializer.create_client); vertex-local speaks REST only"
    ),
    "test_model_upload.py::TestModelUploadAndUpdate::test_upload_and_deploy_xgboost_model": (
        "deploys an XGBoost model: vertex-local registers xgboost-cpu images but serves TensorFlow SavedModels only"
    ),
    "test_custom_job.py::TestCustomJob::test_from_local_script_custom_container": (
        "the job runs `pip install --upgrade pip && pip3 install --user /gcs/...` in python:3.8; vertex-local runs "
        "a job's command as a host process, so it would change this machine's Python (needs per-job virtualenvs "
        "and a /gcs/ mapping in job_runner)"
    ),
    "test_custom_job.py::TestCustomJob::test_from_local_script_enable_autolog_custom_container": (
        "as test_from_local_script_custom_container, plus Vertex ML Metadata (experiments), not implemented"
    ),
}

EXPECTED_FAILURES = {
    "test_custom_job.py::TestCustomJob::test_from_local_script_prebuilt_container": (
        "a prebuilt training image makes the SDK send workerPoolSpecs[].pythonPackageSpec, which job_runner "
        "refuses (it runs containerSpec.command only)"
    ),
    "test_custom_job.py::TestCustomJob::test_from_local_script_enable_autolog_prebuilt_container": (
        "aiplatform.init(experiment=...) needs Vertex ML Metadata (metadataStores, contexts), not implemented; "
        "then pythonPackageSpec as above"
    ),
}
