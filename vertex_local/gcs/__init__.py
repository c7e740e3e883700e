"""The Cloud Storage JSON API: bucket and object routes, uploads, and the object store behind them.

Other surfaces use only what this file exports: the ObjectStore's `read_object` and `copy_prefix`, and split_uri
(gs://BUCKET/NAME into its parts, checked), never its files or the routes.
"""

from vertex_local.gcs.names import split_uri
from vertex_local.gcs.store import ObjectStore

__all__ = ["ObjectStore", "split_uri"]
