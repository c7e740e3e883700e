"""The naive baseline: python -m benchmarks.flask_baseline MODEL_DIR --port 8501

What most "serve your Keras model" tutorials ship, kept here only to be measured against: Flask's
development server (`app.run`, threaded by default since Flask 1.0), the model loaded once, and
`request.get_json()` -> `np.array` -> `model.predict` -> `jsonify(...tolist())` per request. Keras 3
loads a SavedModel for `predict` through TFSMLayer. Never part of the product.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from flask import Flask, jsonify, request


def create_app(model_dir: Path) -> Flask:
    import keras

    model = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.TFSMLayer(str(model_dir), call_endpoint="serving_default")]
    )
    app = Flask(__name__)

    @app.post("/predict")
    def predict():  # the tutorial's handler, as written there
        data = request.get_json()
        images = np.array(data["instances"])
        predictions = model.predict(images)
        return jsonify({"predictions": predictions["probabilities"].tolist()})

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--port", type=int, default=8501)
    args = parser.parse_args(argv)
    create_app(args.model_dir).run(host="127.0.0.1", port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
