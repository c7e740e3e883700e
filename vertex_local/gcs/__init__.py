"""The Cloud Storage JSON API: bucket and object routes, uploads, and the object store behind them.

Other surfaces use only what this file exports: the ObjectStore's `read_object` and `copy_prefix`, never its files
or the routes.
"""

from vertex_local.gcs.store import ObjectStore

__all__ = ["ObjectStore"]
