"""The trainer image as files, without a Docker engine: what the Dockerfile says and the tree its COPY lines make.

The Dockerfile is read by BuildKit's own parser (the `dockerfile` package wraps it) and the build context is
filtered by the Docker SDK's .dockerignore matcher, so both follow Docker's rules rather than ours. Instructions
this model does not know fail loudly: extend it rather than let the test check a different image.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import stat
from pathlib import Path

import dockerfile
from docker.utils.build import exclude_paths

IGNORED = ("RUN",)  # their effects are modelled elsewhere: the virtualenv (pip) and the user's home (useradd)


@dataclasses.dataclass
class ImageSpec:
    base: str = ""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    workdir: str = "/"
    copies: list[tuple[tuple[str, ...], str]] = dataclasses.field(default_factory=list)  # (sources, absolute dest)
    runs: list[str] = dataclasses.field(default_factory=list)
    user: str = ""
    entrypoint: tuple[str, ...] = ()
    exposed: list[str] = dataclasses.field(default_factory=list)

    def base_image_and_tag(self) -> tuple[str, str]:
        """FROM's repository and tag, its @sha256 digest (the pin beside the tag) left off."""
        image, _, tag = self.base.partition("@")[0].partition(":")
        return image, tag


def read_dockerfile(path: Path) -> ImageSpec:
    spec = ImageSpec()
    for command in dockerfile.parse_file(str(path)):
        where = f"{path.name}:{command.start_line} {command.original!r}"
        if command.flags or (command.cmd == "FROM" and spec.base):
            raise NotImplementedError(f"{where}: flags and multi-stage builds are not modelled")
        if command.cmd == "FROM":
            spec.base = command.value[0]
        elif command.cmd == "ENV":
            spec.env.update(zip(command.value[0::2], command.value[1::2], strict=True))
        elif command.cmd == "WORKDIR":
            spec.workdir = posixpath.join(spec.workdir, command.value[0])
        elif command.cmd == "COPY":
            dest = posixpath.normpath(posixpath.join(spec.workdir, command.value[-1]))
            into = command.value[-1].endswith("/") or len(command.value) > 2  # Docker: then dest is a directory
            spec.copies.append((command.value[:-1], dest + "/" if into else dest))
        elif command.cmd == "RUN":
            spec.runs.append(command.value[0])
        elif command.cmd == "USER":
            spec.user = command.value[0]
        elif command.cmd == "ENTRYPOINT" and command.json:
            spec.entrypoint = command.value
        elif command.cmd == "EXPOSE":
            spec.exposed.extend(command.value)
        else:
            raise NotImplementedError(f"{where}: not modelled by tests/support/image_tree.py")
    return spec


def ignore_file(context: Path, dockerfile_name: str) -> Path:
    """BuildKit's rule: <Dockerfile>.dockerignore beside the Dockerfile wins over the context's .dockerignore."""
    own = context / f"{dockerfile_name}.dockerignore"
    return own if own.is_file() else context / ".dockerignore"


def context_files(context: Path, dockerfile_name: str = "Dockerfile") -> set[str]:
    """Files of the build context that the Dockerfile's ignore file lets through, relative, '/'-separated."""
    ignore = ignore_file(context, dockerfile_name)
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and line[0] != "#"]
    return {name for name in exclude_paths(str(context), patterns) if (context / name).is_file()}


def build_tree(spec: ImageSpec, context: Path, root: Path, dockerfile_name: str = "Dockerfile") -> set[str]:
    """Carry out the COPY lines into `root` (the image's /); returns the files copied, as image paths."""
    sent = context_files(context, dockerfile_name)
    copied = set()
    for sources, dest in spec.copies:
        for source in sources:
            source = source.rstrip("/")
            inside = sorted(name for name in sent if name == source or name.startswith(source + "/"))
            if not inside:
                raise FileNotFoundError(f"COPY {source}: not in the build context (.dockerignore?)")
            for name in inside:
                if name == source:  # a file: into a directory destination, or to that exact path
                    target = posixpath.join(dest, posixpath.basename(name)) if dest.endswith("/") else dest
                else:  # a directory: its contents go into the destination
                    target = posixpath.join(dest, name[len(source) + 1 :])
                (root / target.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(context / name, root / target.lstrip("/"))
                copied.add(target)
    return copied


def make_read_only(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            os.chmod(Path(directory) / name, 0o444)
        os.chmod(directory, 0o555)


def remove_tree(root: Path) -> None:
    for directory, _, _ in os.walk(root):
        os.chmod(directory, stat.S_IRWXU)
    shutil.rmtree(root, ignore_errors=True)
