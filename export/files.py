"""Atomic writes: everything is staged in a temporary directory inside the
output directory (same filesystem), then renamed into place only when the
whole export has passed its checks."""

import os
import shutil
import tempfile

from export.errors import ExportError


def check_output_dir(output_dir):
    """Raises ExportError unless `output_dir` is a directory or can be made one,
    so that a path that is a file fails before any work, not in makedirs at the end."""
    path = os.path.abspath(output_dir)
    existing = path
    while not os.path.exists(existing):  # the nearest part of the path that exists
        existing = os.path.dirname(existing)
    if os.path.isdir(existing):
        return
    if existing == path:
        raise ExportError(f"output_dir {path!r} is an existing file; pass a directory "
                          f"(it is created if missing).")
    raise ExportError(f"output_dir {path!r} cannot be created: {existing!r} is a file; pass "
                      f"a path under a directory.")


class Staging:
    """`with Staging(dir) as stage:` write to `stage.path(name)`, then
    `stage.commit()`; leaving the block without a commit keeps nothing."""

    def __init__(self, output_dir):
        self.output_dir = os.path.abspath(output_dir)
        self._created = not os.path.isdir(self.output_dir)
        self._names = []

    def __enter__(self):
        os.makedirs(self.output_dir, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=".zoo-export-", dir=self.output_dir)
        return self

    def path(self, name):
        """Where to write `name` now; it is renamed to output_dir/name on commit."""
        self._names.append(name)
        return os.path.join(self.dir, name)

    def final(self, name):
        return os.path.join(self.output_dir, name)

    def commit(self):
        for name in self._names:
            source, target = os.path.join(self.dir, name), self.final(name)
            if not os.path.exists(source):
                continue
            if os.path.isdir(source) and os.path.isdir(target):
                # A directory cannot be replaced in one rename: move the old one
                # into the staging area (deleted below) and the new one in.
                os.replace(target, os.path.join(self.dir, f".old-{name}"))
            os.replace(source, target)

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._created and exc[0] is not None and not os.listdir(self.output_dir):
            os.rmdir(self.output_dir)
        return False


def size_of(path):
    """Bytes of a file, or of all files under a directory."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)
