"""The server's own copy of every deployed model, under <state dir>/serving/<deployed model id>/.

Vertex copies a model's artifact when it deploys it, so deleting or overwriting the objects in the bucket
afterwards changes nothing that serves. vertex-local does the same: deploy copies the artifact out of the
object store (ObjectStore.copy_prefix) and loads the copy, a restart loads the copy again, undeploy deletes it.
A copy is made under a temporary name and renamed when complete, so a crash never leaves half a model to load.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vertex_local.gcs import ObjectStore

INCOMING = ".incoming-"  # a copy being made: removed, not loaded, after a crash


class ServingCopies:
    def __init__(self, objects: ObjectStore, root: Path) -> None:
        self.objects = objects
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, deployed_id: str) -> Path:
        return self.root / deployed_id

    def make(self, deployed_id: str, artifact_uri: str) -> Path:
        """Copy the artifact's objects into the deployed model's folder; blocking. ValueError if there are none."""
        incoming = self.root / f"{INCOMING}{deployed_id}"
        shutil.rmtree(incoming, ignore_errors=True)
        try:
            self.objects.copy_prefix(artifact_uri, incoming)
            self.remove(deployed_id)
            incoming.rename(self.path(deployed_id))
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        return self.path(deployed_id)

    def remove(self, deployed_id: str) -> None:
        shutil.rmtree(self.path(deployed_id), ignore_errors=True)

    def keep_only(self, deployed_ids: set[str]) -> list[str]:
        """Delete every copy (and unfinished copy) of a model no endpoint has deployed; returns their names."""
        stale = [path for path in self.root.iterdir() if path.name not in deployed_ids]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return sorted(path.name for path in stale)
