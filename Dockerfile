# The trainer image that Vertex AI custom training runs: python -m trainer.task, writing to $AIP_MODEL_DIR.
# Built and pushed by .github/workflows/train.yml, tagged with the git SHA.
# The base by digest, so a re-pushed tag cannot change what Vertex AI runs: the linux/amd64 manifest of the
# 2.21.0 tag (Vertex AI and GitHub's runners are amd64), as Docker Hub lists it
# (hub.docker.com/layers/tensorflow/tensorflow/2.21.0/images/sha256-f325279f...). `make pin-base-images`
# re-resolves the tag where Docker Hub is reachable; docs/cloud-setup.md says how this one was found.
FROM tensorflow/tensorflow:2.21.0@sha256:f325279f01a3e742a1285d8d736b7e600f72ccf8b55cc19ee0a90b8cbfce4c7a

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# TensorFlow comes with the base image; the trainer's few other needs are pinned here.
COPY trainer/requirements.txt trainer/requirements.txt
RUN pip install --no-cache-dir -r trainer/requirements.txt \
    && useradd --create-home --uid 10001 trainer

COPY pipeline.toml pipeline_config.py native_logs.py ./
COPY trainer/ trainer/
COPY tasks/ tasks/

USER 10001
ENTRYPOINT ["python", "-m", "trainer.task"]
