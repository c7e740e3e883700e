# The serving image Vertex AI runs for every model version (containerSpec.imageUri): Vertex's custom-container
# contract (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements), served by
# vertex-local's own predict path. Replaces Google's prebuilt tf2-cpu.2-15 image, whose end of availability is
# Jan 14, 2027 (https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers). Built and pushed by
# .github/workflows/train.yml beside the trainer image, tagged with the git SHA. docs/serving.md says more.
# The same TensorFlow as the trainer (Dockerfile): the model is served by the version that exported it.
FROM tensorflow/tensorflow:2.21.0@sha256:f325279f01a3e742a1285d8d736b7e600f72ccf8b55cc19ee0a90b8cbfce4c7a

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

COPY vertex_local/serving/requirements.txt vertex_local/serving/requirements.txt
RUN pip install --no-cache-dir -r vertex_local/serving/requirements.txt \
    && useradd --create-home --uid 10001 serving

COPY pipeline.toml pipeline_config.py native_logs.py ./
# The task contract: the model server reads the input spec of the task it serves (vertex_local/serving/model_server.py).
COPY tasks/ tasks/
COPY vertex_local/__init__.py vertex_local/errors.py vertex_local/
COPY vertex_local/http/ vertex_local/http/
COPY vertex_local/serving/ vertex_local/serving/

USER 10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "vertex_local.serving.container"]
