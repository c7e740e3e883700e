"""The Cloud Storage JSON API: bucket and object routes, uploads, and the object store behind them.

Other surfaces use only what this file exports: the ObjectStore's `read_object` and `copy_prefix` (and, until
jobs write through the API and deployments copy models with copy_prefix, `local_path`: see gcs/legacy.py), never
its files or the routes.
"""

from vertex_local.gcs.legacy import local_path
from vertex_local.gcs.store import ObjectStore

__all__ = ["ObjectStore", "local_path"]
