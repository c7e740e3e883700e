"""The Cloud Storage JSON API: bucket and object routes, uploads, and the object store behind them.

Other surfaces use only what this file exports: the ObjectStore's `read_object` and `copy_prefix` (and, until
jobs get gs:// output directories, `local_path`), never its files or the routes.
"""

from vertex_local.gcs.store import ObjectStore, local_path

__all__ = ["ObjectStore", "local_path"]
