"""Helpers the whole project shares: atomic writes, "did you mean", versions."""

import contextlib
import difflib
import importlib.metadata
import json
import os
import platform
import sys

PACKAGES = ("tensorflow", "keras", "numpy", "tensorflow-datasets", "absl-py", "scikit-learn",
            "scikit-image", "matplotlib", "keras-cv", "ai-edge-litert")
# What image folders are read for (training's folder: source, zoo-verify's galleries).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary name beside `path` to write to; renames it onto `path`
    when the block succeeds and removes it when it fails. The rename is atomic
    (same folder), so a kill -9 at any moment leaves the old file or the new one,
    never half of one. The name keeps `path`'s extension, which Keras and
    matplotlib read: `.tmp-best.keras`."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    tmp = os.path.join(folder, f".tmp-{name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def write_json(path, data):
    """`data` as indented JSON (numpy scalars and tuples as plain values), atomically."""
    write_text(path, json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars and 0-d arrays
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


def did_you_mean(value, choices, n=3):
    """' Did you mean a, b?' for the choices close to `value`, or ''."""
    close = difflib.get_close_matches(str(value), list(choices), n=n, cutoff=0.4)
    return f" Did you mean {', '.join(close)}?" if close else ""


def versions():
    """Python, machine and the versions of the packages a result depends on."""
    packages = {}
    for package in PACKAGES:
        try:
            packages[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            packages[package] = None
    import zoo

    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": os.cpu_count(), "zoo": zoo.__version__,
            "packages": packages}
