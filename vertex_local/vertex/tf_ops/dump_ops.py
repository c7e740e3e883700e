"""Print, as JSON, the name of every op the running TensorFlow registers (with a kernel or not).

vertex-local checks a SavedModel against the op list of the TensorFlow its serving image runs
(vertex_local/vertex/runtimes.py). Generated once per supported TF version, from that version's wheel:

    .venv-tf215/bin/python vertex_local/vertex/tf_ops/dump_ops.py > vertex_local/vertex/tf_ops/tf-2.15.json

(.venv-tf215 is the virtualenv tests/trainer/test_tf215_compat.py builds: tensorflow-cpu==2.15.1.)
"""

from __future__ import annotations

import json
import sys


def registered_ops() -> tuple[str, list[str]]:
    """(TF version, sorted op names) from TF's own C registry."""
    import tensorflow as tf
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    return tf.__version__, sorted(op.name for op in ops.op)


def main() -> int:
    version, ops = registered_ops()
    json.dump({"tensorflow": version, "ops": ops}, sys.stdout, indent=0)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
