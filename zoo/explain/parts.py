"""What `zoo-explain` and `zoo-train --explain` draw: one PNG per part, for a model and images.

    written = explain_model(model, images, "run/explain", what=("filters", "gradcam"),
                            labels=labels, class_names=names)

`images` (a run's test split, or the user's files) are the collection the
unit pictures look through (top patches, the neighbours' gallery, t-SNE);
the first few (`examples`, one per class when labels are given) are
explained one by one (attribution maps, the neighbours' queries). Each part
means something for some kinds of output only (the names are export's
metadata kinds): a class map needs classes, t-SNE needs labels.
"""

import dataclasses
import math
import os

import keras
import numpy as np

from zoo.explain import attribution, pictures, units
from zoo.explain.receptive_field import receptive_field
from zoo.utils import did_you_mean, write_json

CLASS_KINDS = ("logits", "probabilities")
PIXEL_KINDS = ("per_pixel_logits", "per_pixel_probabilities")
EMBEDDING_KINDS = ("embeddings",)
KINDS = (*CLASS_KINDS, *PIXEL_KINDS, *EMBEDDING_KINDS)
TILE = 96  # pixels: small inputs (LeNet's 32) are scaled up to about this per tile
MAX_UNITS = 16  # units drawn by "patches" (the first of the layer)
MAX_COLLECTION = 1000  # images t-SNE, patches and neighbours look through


@dataclasses.dataclass
class Inputs:
    """What every part reads: the model, its output kind, the images (in
    `value_range`), their labels (None: the model's predicted classes), the
    indices of the examples and the class names (None: indices)."""

    model: keras.Model
    kind: str
    images: np.ndarray
    labels: np.ndarray | None
    examples: np.ndarray
    value_range: tuple
    class_names: tuple | None

    def name(self, index):
        return self.class_names[index] if self.class_names else str(int(index))

    def tile_scale(self, size):
        return max(1, math.ceil(TILE / size))


def _filters(inputs):
    layer = units.first_convolution(inputs.model)
    return units.filters(inputs.model, layer), max(1, math.ceil(48 / layer.kernel.shape[0])), {
        "layer": layer.name}


def patches_layer(model, image_size):
    """The layer "patches" draws: the deepest map whose units' receptive field
    fits in the image (`image_size` pixels), among a zoo model's
    `features_only` maps (the last layer of each width) first, then any layer
    up to Grad-CAM's map. A ResNet's last map at 224 px sees over 400 px,
    mostly padding; a U-Net's upsampled decoder maps have no single field."""
    last = attribution.last_feature_map(model)
    spatial = [layer for layer in model.layers[1:model.layers.index(last) + 1]
               if len(layer._inbound_nodes) == 1 and len(layer.output.shape) == 4]
    entry = attribution.zoo_entry(model)
    widths = [channels for _, channels in reversed(entry.features)] if entry and entry.features else []
    feature_maps = [[layer for layer in spatial if layer.output.shape[-1] == c][-1:] for c in widths]
    for layer in [*(m for maps in feature_maps for m in maps), *reversed(spatial)]:
        try:
            field = receptive_field(model, layer)
        except ValueError:
            continue
        if max(field.size) <= image_size:
            return layer
    raise ValueError(f"{model.name} has no feature map whose units see part of a "
                     f"{image_size}-pixel image.")


def _patches(inputs):
    layer = patches_layer(inputs.model, max(inputs.images.shape[1:3]))
    count = min(MAX_UNITS, layer.output.shape[-1])
    top = units.top_patches(inputs.model, layer, inputs.images, k=min(9, len(inputs.images)),
                            units=range(count))
    field = top.field
    return (top.picture(inputs.value_range), inputs.tile_scale(2 * max(field.size)),
            {"layer": layer.name, "units": count, "receptive_field": {
                "size": list(field.size), "stride": list(field.stride), "offset": list(field.offset)}})


def features_layer(model, kind):
    """The layer whose features neighbours and t-SNE compare: an embedding
    model's output, else the input of the output layer (a classifier's
    penultimate features: LeNet's f6, a ResNet's avg_pool), past any Dropout."""
    tensor = model.outputs[0]
    if kind not in EMBEDDING_KINDS:
        tensor = tensor._keras_history.operation.input
    while isinstance(tensor._keras_history.operation, keras.layers.Dropout):
        tensor = tensor._keras_history.operation.input
    return tensor._keras_history.operation


def _neighbours(inputs):
    queries = inputs.examples[:max(1, len(inputs.images) // 2)]  # the rest to search among
    gallery = np.setdiff1d(np.arange(len(inputs.images)), queries)
    if len(gallery) == 0:
        raise ValueError(f"neighbours needs images besides the {len(queries)} examples to search "
                         "among; give more images.")
    layer = features_layer(inputs.model, inputs.kind)
    found = units.nearest_neighbours(inputs.model, layer, inputs.images[queries],
                                     inputs.images[gallery], k=min(5, len(gallery)))
    picture = found.picture(inputs.images[queries], inputs.images[gallery], inputs.value_range)
    return picture, inputs.tile_scale(inputs.images.shape[1]), {
        "layer": layer.name, "queries": queries.tolist(),
        "neighbours": gallery[found.indices].tolist()}


def _tsne(inputs):
    layer = features_layer(inputs.model, inputs.kind)
    labels = inputs.labels if inputs.labels is not None else _predicted(inputs)
    perplexity = min(30.0, (len(inputs.images) - 1) / 3)
    embedding = units.embedding_map(inputs.model, layer, inputs.images, labels,
                                    perplexity=perplexity)
    if inputs.labels is None:
        embedding.title += " (coloured by predicted class)"
    names = [inputs.name(i) for i in range(int(labels.max()) + 1)]
    picture = embedding.picture(class_names=names, size=(4.8, 4.8), dpi=80)
    return picture, 1, {"layer": layer.name, "trustworthiness": embedding.trustworthiness,
                        "one_nn_accuracy": embedding.one_nn_accuracy, "k": embedding.k}


def _outputs(inputs, images):
    return np.concatenate([np.asarray(inputs.model(images[i:i + 64], training=False), "float32")
                           for i in range(0, len(images), 64)])


def _predicted(inputs):
    return _outputs(inputs, inputs.images).argmax(axis=-1)


def _heat_picture(method, render):
    """A part drawing `method(model, image, class_index, mask=...)` per example,
    `render(image, map)` as uint8: a row of the examples, then a row of their
    maps for the predicted class, or, for a segmentation model, one row per
    class for that class over the pixels predicted to be it (blank where none are)."""

    def draw(inputs):
        images = inputs.images[inputs.examples]
        outputs = _outputs(inputs, images)
        rows = [[pictures.to_uint8(image, inputs.value_range) for image in images]]
        if inputs.kind in CLASS_KINDS:
            classes = outputs.argmax(axis=-1)
            rows.append([render(image, method(inputs.model, image, int(c)), inputs.value_range)
                         for image, c in zip(images, classes)])
            facts = {"classes": [inputs.name(c) for c in classes]}
        else:
            masks = outputs.argmax(axis=-1)
            for c in range(outputs.shape[-1]):
                rows.append([render(image, method(inputs.model, image, c, mask=mask == c),
                                    inputs.value_range) if (mask == c).any()
                             else np.full_like(rows[0][0], 255)
                             for image, mask in zip(images, masks)])
            facts = {"rows": ["input", *(inputs.name(c) for c in range(outputs.shape[-1]))]}
        picture = pictures.grid([tile for row in rows for tile in row], columns=len(images), gap=2)
        return picture, inputs.tile_scale(images.shape[1]), {"examples": inputs.examples.tolist(),
                                                             **facts}

    return draw


def _overlay(image, heat, value_range):
    return pictures.overlay(image, heat, value_range=value_range)


def _grey(image, heat, value_range):
    return pictures.to_uint8(pictures.normalise(heat), (0.0, 1.0))


def _occlusion(model, image, class_index, mask=None):
    stride = max(1, image.shape[0] // 8)
    return attribution.occlusion(model, image, class_index, window=2 * stride, stride=stride,
                                 mask=mask)


@dataclasses.dataclass(frozen=True)
class Part:
    draw: callable  # Inputs -> (uint8 picture, scale, facts for explain.json)
    kinds: tuple  # the output kinds it means something for
    shows: str
    min_images: int = 1  # neighbours need a gallery; t-SNE 3k + 1 points for its k = 5


# The parts, in the order they are drawn: name -> Part.
PARTS = {
    "filters": Part(_filters, KINDS, "the first convolution's kernels, one tile each"),
    "patches": Part(_patches, KINDS, "per unit of the last feature map whose receptive "
                    "field fits in the image, its top-9 receptive-field patches"),
    "neighbours": Part(_neighbours, (*CLASS_KINDS, *EMBEDDING_KINDS),
                       "each example, then its 5 nearest images in feature space", min_images=2),
    "tsne": Part(_tsne, (*CLASS_KINDS, *EMBEDDING_KINDS), "t-SNE map of the features by class",
                 min_images=16),
    "occlusion": Part(_heat_picture(_occlusion, _overlay), (*CLASS_KINDS, *PIXEL_KINDS),
                      "the score's drop under a sliding grey patch"),
    "saliency": Part(_heat_picture(attribution.saliency, _grey), (*CLASS_KINDS, *PIXEL_KINDS),
                     "|d score / d pixel|"),
    "guided": Part(_heat_picture(attribution.guided_backprop, _grey),
                   (*CLASS_KINDS, *PIXEL_KINDS), "guided backpropagation (signed, scaled to its range)"),
    "gradcam": Part(_heat_picture(attribution.grad_cam, _overlay), (*CLASS_KINDS, *PIXEL_KINDS),
                    "Grad-CAM on the last feature map"),
}


def output_kind(model):
    """The kind of `model`'s output from its shape: class scores (batch, classes)
    or per-pixel scores (batch, h, w, classes). An embedding model's output
    looks like class scores: say `kind="embeddings"`."""
    rank = len(model.outputs[0].shape)
    if rank not in (2, 4):
        raise ValueError(f"{model.name}'s output has shape {tuple(model.outputs[0].shape)}; "
                         "explain draws (batch, classes) and (batch, h, w, classes) outputs.")
    return "logits" if rank == 2 else "per_pixel_logits"


def applicable(kind, images=None):
    """The parts that mean something for outputs of `kind` (and for `images`
    images, None: any number), in drawing order."""
    return tuple(name for name, part in PARTS.items()
                 if kind in part.kinds and (images is None or images >= part.min_images))


def check_parts(what, kind=None, images=None):
    """`what` (names, or ["all"]: those that apply) as a tuple of known parts
    that apply to `kind` (None: any) and to `images` images (None: any
    number); raises ValueError naming the first that does not."""
    what = tuple(what)
    if "all" in what:
        return applicable(kind, images) if kind else tuple(PARTS)
    for name in what:
        if name not in PARTS:
            raise ValueError(f"unknown part {name!r}.{did_you_mean(name, PARTS)} Accepted: "
                             f"{', '.join(PARTS)} (or all).")
        if kind is not None and kind not in PARTS[name].kinds:
            raise ValueError(f"part {name!r} does not apply to a model whose output is {kind}; "
                             f"for it: {', '.join(applicable(kind))}.")
        if images is not None and images < PARTS[name].min_images:
            raise ValueError(f"part {name!r} needs at least {PARTS[name].min_images} images; "
                             f"got {images}.")
    return tuple(dict.fromkeys(what))


def pick_examples(labels, count, total):
    """Indices of up to `count` examples: the first image of each class in
    class order (then the next images) when `labels` are given, else the first."""
    if labels is None or np.ndim(labels) != 1:
        return np.arange(min(count, total))
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    rest = np.setdiff1d(np.arange(total), firsts).tolist()
    return np.array((firsts + rest)[:count])


def explain_model(model, images, output_dir, what=("all",), labels=None, kind=None,
                  value_range=(0.0, 255.0), class_names=None, examples=8):
    """Draws the parts `what` (PARTS names, or "all": every part that applies
    to the output's kind and to as many images)
    of `model` on `images` (N, H, W, C) into `output_dir`/<part>.png, and
    `output_dir`/explain.json (what each picture shows, and its numbers).

    `labels`: each image's class (None, or a segmentation's masks: the model's
    predicted classes colour the t-SNE); `kind`: the output's (KINDS; None: from
    its shape); `examples`: images explained one by one. Returns explain.json's content.
    """
    model = attribution._one_output(model)
    kind = kind or output_kind(model)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    images = np.asarray(images, dtype="float32")[:MAX_COLLECTION]
    if images.ndim != 4:
        raise ValueError(f"explain draws 2D image models; got images of shape {images.shape} "
                         f"(signals and volumes have no pictures here).")
    what = check_parts(what, kind, len(images))
    labels = None if labels is None else np.asarray(labels)[:MAX_COLLECTION]
    class_labels = labels if labels is not None and labels.ndim == 1 else None
    inputs = Inputs(model, kind, images, class_labels,
                    pick_examples(class_labels, examples, len(images)), tuple(value_range),
                    tuple(class_names) if class_names else None)
    os.makedirs(output_dir, exist_ok=True)
    report = {"model": model.name, "kind": kind, "images": len(images), "parts": {}}
    for name in what:
        try:
            picture, scale, facts = PARTS[name].draw(inputs)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from error
        path = os.path.join(output_dir, f"{name}.png")
        pictures.save_png(path, picture, scale=scale)
        report["parts"][name] = {"picture": path, "shows": PARTS[name].shows, "scale": scale, **facts}
    write_json(os.path.join(output_dir, "explain.json"), report)
    return report
