# The trainer image that Vertex AI custom training runs: python -m trainer.task, writing to $AIP_MODEL_DIR.
# Built and pushed by .github/workflows/train.yml, tagged with the git SHA.
FROM tensorflow/tensorflow:2.21.0

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
