"""The Cloud Storage JSON API: bucket and object routes, uploads, and the object store behind them.

Other surfaces use only what this file exports: `local_path` maps a gs:// URI to the store's file.
"""

from vertex_local.gcs.store import local_path

__all__ = ["local_path"]
