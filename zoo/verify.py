"""Face verification (1:1) and identification (1:K) with a trained embedding model,
the library behind zoo-verify.

    embedder = load_embedder("runs/embedding/best.keras")   # or its export's .tflite
    gallery = enroll(embedder, "people/")                   # people/<name>/*.png or people/<name>.png
    save_gallery(gallery, "people/gallery.npz")
    identify(embedder, gallery, "query.png")                # Match("alice", 0.31, "alice", 0.93)
    verify(embedder, "a.png", "b.png")                      # (True, 0.42)

Distances are squared L2 between the L2-normalised embeddings, in [0, 4] (the
harness's). A pair is the same identity when its distance is <= the threshold
the harness calibrated on held-out pairs (`THRESHOLD_FILE` beside best.keras,
written by zoo-train --model=embedding), or one given by hand. A gallery
keeps one embedding per enrolled image; a query's identity is that of the
nearest, or None ("unknown") when even the nearest is over the threshold.
"""

import dataclasses
import json
import os

import numpy as np

from zoo.explain.predict import EMBEDDINGS, KINDS, PredictError, load_predictor, read_image
from zoo.utils import IMAGE_EXTENSIONS, atomic_path

# Beside best.keras: {"threshold": t, "distance": "squared_l2", "target_far": ..., ...}.
THRESHOLD_FILE = "verification.json"
GALLERY_FILE = "gallery.npz"  # enroll's default output, inside the gallery folder
DISTANCE = "squared_l2"
_BATCH = 64


class VerifyError(PredictError):
    """A model, image, gallery or threshold zoo-verify cannot use; the message says
    what to pass."""


@dataclasses.dataclass
class Embedder:
    """A loaded embedding model and the threshold calibrated with it (None when its
    run left none)."""

    predictor: object  # zoo.explain.predict.Predictor
    threshold: float | None

    @property
    def path(self):
        return self.predictor.path

    def embed(self, image_paths):
        """[N, D] float32 embeddings of image files (all read before any is embedded)."""
        images = np.stack([read_image(p, self.predictor.input_shape) for p in image_paths])
        return np.concatenate([self.predictor.run(images[i:i + _BATCH])
                               for i in range(0, len(images), _BATCH)])


@dataclasses.dataclass
class Gallery:
    """Enrolled embeddings: row i is image `images[i]` of identity `identities[i]`."""

    embeddings: np.ndarray  # [N, D] float32
    identities: np.ndarray  # [N] str
    images: np.ndarray  # [N] str
    model: str  # the model that embedded them
    threshold: float | None  # the model's calibrated threshold at enrolment


@dataclasses.dataclass
class Match:
    identity: str | None  # None: unknown (the nearest is farther than the threshold)
    distance: float  # to the nearest enrolled image
    nearest: str  # the nearest image's identity, known or not
    threshold: float


def calibrated_threshold(model_path):
    """The threshold in `THRESHOLD_FILE` beside `model_path` (for an exported
    .tflite in <run>/export/, the run's), or None when there is none."""
    folder = os.path.dirname(os.path.abspath(os.fspath(model_path)))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, THRESHOLD_FILE)
        if os.path.isfile(path):
            with open(path) as f:
                saved = json.load(f)
            if saved.get("distance", DISTANCE) != DISTANCE:
                raise VerifyError(f"{path} holds a threshold on {saved['distance']!r} distances; "
                                  f"zoo-verify measures {DISTANCE}.")
            return float(saved["threshold"])
    return None


def load_embedder(model_path):
    """An `Embedder` for a .keras or .tflite embedding model (one whose output is an
    L2-normalised vector per image), with its run's calibrated threshold."""
    predictor = load_predictor(model_path, kinds=(EMBEDDINGS, *KINDS))
    if predictor.kind != EMBEDDINGS:
        raise VerifyError(f"{predictor.path} is not an embedding model: its output is "
                          f"{predictor.kind!r}. zoo-verify needs a model whose output is an "
                          "L2-normalised embedding (zoo-train --model=embedding writes one).")
    return Embedder(predictor, calibrated_threshold(model_path))


def _threshold(threshold, *sources):
    """The first threshold given, else one clear error."""
    for value in (threshold, *sources):
        if value is not None:
            if not np.isfinite(value) or value < 0:
                raise VerifyError(f"The threshold must be a finite squared L2 distance >= 0; "
                                  f"got {value!r}.")
            return float(value)
    raise VerifyError(f"No calibrated threshold: no {THRESHOLD_FILE} beside the model (zoo-train "
                      "--model=embedding writes one beside best.keras). Pass --threshold "
                      "(squared L2 distance; same identity when distance <= threshold).")


def gallery_images(root):
    """[(identity, image path)] of a gallery folder: each sub-folder is a person
    (every image in it, named by the folder), each image directly in `root` a
    person named by its file name's stem. Raises VerifyError when it holds none."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise VerifyError(f"Gallery {root!r} is not a folder (expected one sub-folder, or one "
                          "image, per person).")
    is_image = lambda name: name.lower().endswith(IMAGE_EXTENSIONS)  # noqa: E731
    entries = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.startswith("."):
            continue
        if os.path.isdir(path):
            files = sorted(f for f in os.listdir(path) if is_image(f) and not f.startswith("."))
            if not files:
                raise VerifyError(f"Gallery person folder {path!r} holds no images "
                                  f"({', '.join(IMAGE_EXTENSIONS)}).")
            entries += [(name, os.path.join(path, f)) for f in files]
        elif is_image(name):
            entries.append((os.path.splitext(name)[0], path))
    if not entries:
        raise VerifyError(f"Gallery {root!r} holds no images: give one sub-folder, or one image "
                          f"({', '.join(IMAGE_EXTENSIONS)}), per person.")
    return entries


def enroll(embedder, root, threshold=None):
    """A `Gallery` of every image in folder `root` (see `gallery_images`).
    `threshold` overrides the model's calibrated one; a gallery may have none."""
    entries = gallery_images(root)
    if threshold is not None:
        threshold = _threshold(threshold)
    return Gallery(embedder.embed([path for _, path in entries]),
                   np.array([identity for identity, _ in entries]),
                   np.array([path for _, path in entries]), os.path.abspath(embedder.path),
                   threshold if threshold is not None else embedder.threshold)


def save_gallery(gallery, path):
    """Writes `gallery` to an .npz file atomically (no pickles: it loads anywhere)."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise VerifyError(f"A gallery file ends in .npz; got {path!r}.")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, embeddings=gallery.embeddings.astype("float32"),
                 identities=gallery.identities, images=gallery.images,
                 model=np.array(gallery.model), distance=np.array(DISTANCE),
                 threshold=np.array(np.nan if gallery.threshold is None else gallery.threshold))


def load_gallery(path):
    """A `Gallery` from a gallery .npz, or from a folder holding `GALLERY_FILE`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, GALLERY_FILE)
    if not os.path.isfile(path):
        raise VerifyError(f"Gallery file {path!r} does not exist; make it with `zoo-verify enroll "
                          "--model=<run>/best.keras --gallery=<folder>`.")
    try:
        with np.load(path, allow_pickle=False) as saved:
            threshold = float(saved["threshold"])
            gallery = Gallery(saved["embeddings"], saved["identities"], saved["images"],
                              str(saved["model"]), None if np.isnan(threshold) else threshold)
    except (OSError, ValueError, KeyError) as error:
        raise VerifyError(f"{path!r} is not a zoo-verify gallery file: {error}") from error
    if not len(gallery.identities):
        raise VerifyError(f"Gallery {path!r} is empty; enroll at least one person.")
    return gallery


def identify(embedder, gallery, image_path, threshold=None):
    """The `Match` of one image against `gallery`: the nearest enrolled image's
    identity, or None when its distance is over the threshold (`threshold`, else
    the gallery's, else the model's)."""
    threshold = _threshold(threshold, gallery.threshold, embedder.threshold)
    query = embedder.embed([image_path])
    if query.shape[1] != gallery.embeddings.shape[1]:
        raise VerifyError(f"The gallery holds {gallery.embeddings.shape[1]}-wide embeddings made "
                          f"by {gallery.model}; {embedder.path} makes {query.shape[1]}-wide ones. "
                          "Enroll again with this model.")
    distances = np.sum((gallery.embeddings.astype("float64") - query) ** 2, axis=1)
    nearest = int(np.argmin(distances))
    identity = str(gallery.identities[nearest])
    distance = float(distances[nearest])
    return Match(identity if distance <= threshold else None, distance, identity, threshold)


def verify(embedder, first, second, threshold=None):
    """(same identity?, distance, threshold) of two image files."""
    threshold = _threshold(threshold, embedder.threshold)
    a, b = embedder.embed([first, second]).astype("float64")
    distance = float(np.sum((a - b) ** 2))
    return distance <= threshold, distance, threshold
