"""What a layer's units respond to: first-layer filters, top patches, nearest
neighbours in feature space and a t-SNE map of the features.

Images are (N, H, W, C) batches in the model's input range (0-255 for zoo
models); pictures are uint8 RGB arrays for `pictures.save_png`.
"""

import dataclasses

import keras
import numpy as np

from zoo import layers as zl
from zoo.explain import pictures
from zoo.explain.receptive_field import ReceptiveField, layer_output, receptive_field
from zoo.layers.preprocess import MODES


def _images(model, images, what="images"):
    images = np.asarray(images, dtype="float32")
    expected = tuple(model.inputs[0].shape)[1:]
    if (images.ndim != 4 or len(images) == 0
            or any(e is not None and e != d for e, d in zip(expected, images.shape[1:]))):
        raise ValueError(f"{what} must be a non-empty batch (N, height, width, channels) of "
                         f"{model.name}'s input shape {expected}; got shape {images.shape}.")
    return images


def activations(model, layer, images, batch_size=64):
    """The output of `layer` (a name or a layer) for each image, in batches: (N, ...)."""
    images = _images(model, images)
    reader = keras.Model(model.input, layer_output(model, layer))
    # float32 whatever the policy: numpy and scikit-learn know no bfloat16
    return np.concatenate([np.asarray(reader(images[i:i + batch_size], training=False), "float32")
                           for i in range(0, len(images), batch_size)])


def _flips_channels(model):
    """Whether the model turns its RGB input into BGR before the first conv (caffe mode)."""
    return any(isinstance(layer, zl.Preprocess) and MODES[layer.mode][2] for layer in model.layers)


def first_convolution(model):
    """The model's first Conv2D layer (not a transposed one)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose):
            return layer
    raise ValueError(f"{model.name} has no Conv2D layer to draw the filters of.")


def filters(model, layer=None, gap=1):
    """The kernels of `layer` (default: the first convolution) as a grid of
    tiles, one per output channel, each normalised to its own min and max:
    RGB tiles for 3 input channels (in RGB order even when the model flips to
    BGR inside), grey for 1. Returns uint8 (rows, columns, 3)."""
    if layer is None:
        layer = first_convolution(model)
    elif isinstance(layer, str):
        layer_output(model, layer)  # checks the name
        layer = model.get_layer(layer)
    kernel = np.asarray(getattr(layer, "kernel", np.zeros(0)))
    if kernel.ndim != 4 or kernel.shape[2] not in (1, 3) or isinstance(layer, keras.layers.DepthwiseConv2D):
        raise ValueError(f"filters draws convolution kernels that see 1 or 3 image channels; "
                         f"layer {layer.name!r} has a kernel of shape {kernel.shape}.")
    tiles = np.moveaxis(kernel, -1, 0)  # (out, kh, kw, in)
    if kernel.shape[2] == 3 and _flips_channels(model):
        tiles = tiles[..., ::-1]
    return pictures.grid([pictures.to_uint8(pictures.normalise(tile), (0.0, 1.0)) for tile in tiles],
                         gap=gap)


@dataclasses.dataclass
class TopPatches:
    """The k strongest activations of each unit, strongest first.

    units (U,): the channels; activations (U, k); locations (U, k, 3): image
    index, row and column in the layer's map; patches (U, k, size_h, size_w,
    C): each the receptive-field crop of the image at that unit (0 where the
    field reaches outside the image); field: the layer's `ReceptiveField`."""

    units: np.ndarray
    activations: np.ndarray
    locations: np.ndarray
    patches: np.ndarray
    field: ReceptiveField

    def picture(self, value_range=(0.0, 255.0), gap=2):
        """One row per unit, its k patches left to right."""
        count, k = self.activations.shape
        tiles = [pictures.to_uint8(patch, value_range) for patch in self.patches.reshape(
            count * k, *self.patches.shape[2:])]
        return pictures.grid(tiles, columns=k, gap=gap)


def top_patches(model, layer, images, k=9, units=None, distinct_images=True, batch_size=64):
    """For each unit (channel) of `layer`, the k image patches that activate
    it most (Zeiler and Fergus, 2014), cut at the unit's receptive field.

    `distinct_images=True` takes each image's strongest position once (k
    different images, as in the paper); False ranks every position of every
    image. `units`: the channels to rank (default all). Ties keep the earlier
    image and position. Returns a `TopPatches`.
    """
    images = _images(model, images)
    field = receptive_field(model, layer)
    output = layer_output(model, layer)
    channels = output.shape[-1]
    units = np.arange(channels) if units is None else np.asarray(units, dtype=int).reshape(-1)
    if len(units) == 0 or units.min() < 0 or units.max() >= channels:
        raise ValueError(f"units must be channel indices in [0, {channels}) of layer "
                         f"{getattr(layer, 'name', layer)!r}; got {units.tolist()}.")
    reader = keras.Model(model.input, output)
    map_size = tuple(output.shape[1:3])
    if None in map_size:  # a model of any input size: measure the map
        map_size = tuple(reader(images[:1], training=False).shape[1:3])
    positions = int(np.prod(map_size))
    available = len(images) * (1 if distinct_images else positions)
    if not isinstance(k, int) or not 1 <= k <= available:
        raise ValueError(f"k must be an int in [1, {available}] for {len(images)} images"
                         f"{'' if distinct_images else f' of {positions} positions'}; got {k!r}.")
    best_values = np.zeros((len(units), 0), "float32")
    best_places = np.zeros((len(units), 0), "int64")  # image * positions + position
    for start in range(0, len(images), batch_size):
        maps = np.asarray(reader(images[start:start + batch_size], training=False), "float32")[..., units]
        flat = maps.reshape(len(maps), -1, len(units))  # (b, positions, U)
        if distinct_images:
            position = flat.argmax(axis=1)  # the first of equal maxima
            values = np.take_along_axis(flat, position[:, None], axis=1)[:, 0].T
            places = ((start + np.arange(len(flat)))[:, None] * positions + position).T
        else:
            values = flat.transpose(2, 0, 1).reshape(len(units), -1)
            places = np.broadcast_to(start * positions + np.arange(flat.shape[0] * positions),
                                     values.shape)
        values = np.concatenate([best_values, values], axis=1)
        places = np.concatenate([best_places, places], axis=1)
        order = np.argsort(-values, axis=1, kind="stable")[:, :k]
        best_values = np.take_along_axis(values, order, axis=1)
        best_places = np.take_along_axis(places, order, axis=1)
    width = map_size[1]
    locations = np.stack([best_places // positions, best_places % positions // width,
                          best_places % positions % width], axis=-1)
    patches = np.stack([[field.crop(images[i], row, column) for i, row, column in unit]
                        for unit in locations])
    return TopPatches(units, best_values, locations, patches, field)


@dataclasses.dataclass
class Neighbours:
    """indices (Q, k) into the gallery and L2 distances (Q, k), nearest first."""

    indices: np.ndarray
    distances: np.ndarray

    def picture(self, queries, gallery, value_range=(0.0, 255.0), gap=2):
        """One row per query: the query, then its k neighbours."""
        rows = [[queries[q]] + [gallery[i] for i in self.indices[q]] for q in range(len(self.indices))]
        tiles = [pictures.to_uint8(image, value_range) for row in rows for image in row]
        return pictures.grid(tiles, columns=self.indices.shape[1] + 1, gap=gap)


def nearest_neighbours(model, layer, queries, gallery, k=5, batch_size=64):
    """The k gallery images whose `layer` features (flattened) are closest in
    L2 to each query's (the last-layer nearest neighbours of CS231n lecture 12)."""
    from scipy.spatial.distance import cdist

    queries, gallery = _images(model, queries, "queries"), _images(model, gallery, "gallery")
    if not isinstance(k, int) or not 1 <= k <= len(gallery):
        raise ValueError(f"k must be an int in [1, {len(gallery)}] (the gallery's size); got {k!r}.")
    features = [activations(model, layer, x, batch_size).reshape(len(x), -1) for x in (queries, gallery)]
    distances = cdist(*features)  # float64: exact ranking
    indices = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return Neighbours(indices, np.take_along_axis(distances, indices, axis=1))


@dataclasses.dataclass
class Embedding:
    """points (N, 2): the t-SNE map; trustworthiness of the map (scikit-learn's,
    with `k` neighbours); one_nn_accuracy: how often a point's nearest other
    point in the map has its label."""

    points: np.ndarray
    labels: np.ndarray
    trustworthiness: float
    one_nn_accuracy: float
    k: int
    title: str

    def picture(self, class_names=None, size=(6.0, 6.0), dpi=100):
        """The map as a scatter plot coloured by class, its numbers in the title."""
        import matplotlib
        from matplotlib.figure import Figure

        figure = Figure(figsize=size, dpi=dpi)
        axes = figure.add_subplot()
        classes = np.unique(self.labels)
        colours = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for index, label in enumerate(classes):
            chosen = self.labels == label
            name = class_names[label] if class_names is not None else str(label)
            axes.scatter(*self.points[chosen].T, s=6, color=colours(index % colours.N), label=name)
        axes.legend(markerscale=3, fontsize="small", loc="best")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"{self.title}\ntrustworthiness (k={self.k}) {self.trustworthiness:.3f}, "
                       f"1-NN accuracy {self.one_nn_accuracy:.3f}", fontsize="medium")
        figure.tight_layout()
        return pictures.figure_to_array(figure)


def embedding_map(model, layer, images, labels, k=5, perplexity=30.0, seed=0, threads=1,
                  batch_size=64):
    """The t-SNE map (scikit-learn, PCA initialisation) of the `layer`
    features of `images`, with its trustworthiness and 1-NN accuracy (labels
    are the images' classes). Returns an `Embedding`.

    `threads`: OpenMP threads for t-SNE's gradient (None: all). One by
    default: on 2 busy cores the digits map took 6.5 s with one thread and
    38 s with two, which spin waiting for each other.
    """
    from sklearn.manifold import TSNE, trustworthiness
    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_limits

    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"labels must give one class per image: {len(images)} images, "
                         f"{len(labels)} labels.")
    if len(images) < 3 * k + 1 or len(images) <= perplexity:
        raise ValueError(f"embedding_map needs more images than perplexity ({perplexity}) and "
                         f"at least {3 * k + 1} for k={k}; got {len(images)}.")
    features = activations(model, layer, images, batch_size).reshape(len(images), -1)
    with threadpool_limits(threads, user_api="openmp"):
        points = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    trust = float(trustworthiness(features, points, n_neighbors=k))
    nearest = NearestNeighbors(n_neighbors=2).fit(points).kneighbors(points, return_distance=False)
    accuracy = float(np.mean(labels[nearest[:, 1]] == labels))
    name = getattr(layer, "name", layer)
    return Embedding(points, labels, trust, accuracy, k, f"t-SNE of {model.name} {name}")
