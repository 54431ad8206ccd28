"""The arguments every classifier builder shares, checked once, and the steps
every builder ends with: the head, `features_only`, and weight loading."""

import dataclasses
import functools
import os

import keras

from zoo import layers as zl

POOLINGS = (None, "avg", "max")


@dataclasses.dataclass(frozen=True)
class PublishedWeights:
    """keras.applications' published ImageNet weight files for one model."""

    base_url: str
    top: tuple  # (file name, md5 hash) of the file with the classifier
    notop: tuple  # the same without it

    @classmethod
    def tf_kernels(cls, base_url, name, hashes):
        """The `<name>_weights_tf_dim_ordering_tf_kernels[_notop].h5` pair of files
        (VGG, ResNet), or None when `hashes` (name: (md5 top, md5 notop)) has no `name`."""
        if name not in hashes:
            return None
        top, notop = hashes[name]
        stem = f"{name}_weights_tf_dim_ordering_tf_kernels"
        return cls(base_url, (f"{stem}.h5", top), (f"{stem}_notop.h5", notop))

    def fetch(self, include_top, model_name):
        file_name, file_hash = self.top if include_top else self.notop
        try:
            return keras.utils.get_file(file_name, self.base_url + file_name,
                                        cache_subdir="models", file_hash=file_hash)
        except Exception as error:  # get_file raises bare Exceptions when offline
            raise RuntimeError(
                f"Could not fetch the ImageNet weights of {model_name} "
                f"({self.base_url + file_name}): {error}. Download that file "
                f"where the network allows and pass weights='/path/to/{file_name}'."
            ) from error


def _is_size(d):
    return isinstance(d, int) and not isinstance(d, bool) and d > 0


def common_kwargs(kwargs, *, name, input_shape, num_classes):
    """The common build arguments with their defaults filled in: `input_shape=None`
    means the model's default (or `input_tensor`'s shape), and keras.applications'
    `classes` is accepted for `num_classes`."""
    kwargs = dict(kwargs)
    if "classes" in kwargs:
        if "num_classes" in kwargs:
            raise TypeError(f"{name}: give num_classes or its keras.applications alias "
                            f"classes, not both; got num_classes={kwargs['num_classes']!r}, "
                            f"classes={kwargs['classes']!r}.")
        kwargs["num_classes"] = kwargs.pop("classes")
    kwargs.setdefault("name", name)
    if kwargs.get("input_shape") is None:
        kwargs["input_shape"] = input_shape if kwargs.get("input_tensor") is None else None
    kwargs.setdefault("num_classes", num_classes)
    return kwargs


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """The keras.applications argument set, validated on construction.

    `dropout=None` means the family's own default (the paper's).
    """

    name: str
    input_shape: tuple | None = (224, 224, 3)  # None only with input_tensor
    num_classes: int = 1000
    include_top: bool = True
    pooling: str | None = None
    weights: str | None = None
    classifier_activation: str | None = None
    dropout: float | None = None
    features_only: bool = False
    out_indices: tuple | None = None
    # A Keras tensor (e.g. another model's output) to build on, as in
    # keras.applications: the model's inputs are then that tensor's sources.
    input_tensor: object = None
    # True: the model takes 0-255 pixels and normalises them itself (a
    # `zoo.layers.Preprocess` layer named "preprocessing" after the input);
    # False: the bare graph, for callers who preprocess as `preprocessing` says.
    include_preprocessing: bool = True
    # The registry entry's mode (a key of zoo.layers.preprocess.MODES).
    preprocessing: str = "unit"
    # A PublishedWeights, or for families whose files depend on their own
    # options (MobileNet: alpha, input size) a callable
    # `(options, **family_kwargs) -> PublishedWeights` that raises ValueError for
    # combinations without a published file; builders resolve it with
    # `resolve_weights`.
    published_weights: PublishedWeights | None = None

    def __post_init__(self):
        shape = self.input_shape
        if self.input_tensor is not None:
            shape = self._check_input_tensor(shape)
        if (not isinstance(shape, (tuple, list)) or len(shape) != 3
                or not _is_size(shape[2]) or not all(d is None or _is_size(d) for d in shape[:2])):
            raise ValueError(f"{self.name}: input_shape must be (height, width, channels): "
                             "positive ints, height and width None for any size; "
                             f"got {shape!r}.")
        object.__setattr__(self, "input_shape", tuple(shape))
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"{self.name}: num_classes must be a positive int; "
                             f"got {self.num_classes!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"{self.name}: pooling must be one of {POOLINGS}; "
                             f"got {self.pooling!r}.")
        if not isinstance(self.include_preprocessing, bool):
            raise ValueError(f"{self.name}: include_preprocessing must be True or False; "
                             f"got {self.include_preprocessing!r}.")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"{self.name}: dropout must be in [0, 1); got {self.dropout!r}.")
        self._check_weights()

    def _check_input_tensor(self, shape):
        """The input shape `input_tensor` gives (which `shape`, if set, must match)."""
        tensor_shape = getattr(self.input_tensor, "shape", None)
        if tensor_shape is None or len(tensor_shape) != 4:
            raise ValueError(f"{self.name}: input_tensor must be a 4D (batch, height, width, "
                             f"channels) Keras tensor; got {self.input_tensor!r}.")
        tensor_shape = tuple(None if d is None else int(d) for d in tuple(tensor_shape)[1:])
        if shape is not None and tuple(shape) != tensor_shape:
            raise ValueError(f"{self.name}: input_shape={shape!r} does not match the shape "
                             f"of input_tensor, {tensor_shape}; give one of them.")
        return tensor_shape

    @property
    def fixed_size(self):
        """Whether height and width are known (a flattening head needs them)."""
        return None not in self.input_shape[:2]

    def require_fixed_size(self, what):
        if not self.fixed_size:
            raise ValueError(f"{self.name} with {what} needs a fixed input height and width; "
                             f"got input_shape={self.input_shape}. Give both, or use "
                             "include_top=False.")

    def _check_weights(self):
        weights = self.weights
        if weights is None:
            return
        if weights == "imagenet":
            if self.published_weights is None:
                raise ValueError(f"{self.name} has no published ImageNet weights; "
                                 "use weights=None or a path to a weights file.")
            if self.include_top and self.num_classes != 1000:
                raise ValueError(f"{self.name}: weights='imagenet' with include_top=True "
                                 f"needs num_classes=1000; got {self.num_classes}.")
            if self.input_shape[-1] != 3:
                raise ValueError(f"{self.name}: weights='imagenet' needs 3 input channels; "
                                 f"got input_shape={self.input_shape}.")
            return
        if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
            raise ValueError(f"{self.name}: weights must be None, 'imagenet' or the path "
                             f"of an existing weights file; got {weights!r}.")

    def resolve_weights(self, **family_kwargs):
        """These options with `published_weights` chosen for the family's own
        arguments, when weights='imagenet' and they depend on them."""
        if self.weights != "imagenet" or not callable(self.published_weights):
            return self
        return dataclasses.replace(self, published_weights=self.published_weights(self, **family_kwargs))

    def dropout_or(self, default):
        return default if self.dropout is None else self.dropout

    def check_min_size(self, min_size):
        """Raises before any layer is built if the input is too small for the network."""
        height, width, _ = self.input_shape
        if min((d for d in (height, width) if d is not None), default=min_size) < min_size:
            raise ValueError(f"{self.name} needs inputs of at least {min_size}x{min_size}; "
                             f"got {height}x{width} (input_shape={self.input_shape}).")

    def input(self):
        """The model's input tensor: a new Input, or `input_tensor` (wrapped if it
        is a backend tensor, as keras.applications does)."""
        if self.input_tensor is None:
            return keras.Input(shape=self.input_shape, name="input_layer")
        if keras.backend.is_keras_tensor(self.input_tensor):
            return self.input_tensor
        return keras.Input(tensor=self.input_tensor, shape=self.input_shape, name="input_layer")

    def model_inputs(self, inputs):
        """What the model starts from: `inputs`, or the sources of `input_tensor`."""
        if self.input_tensor is None or not keras.backend.is_keras_tensor(self.input_tensor):
            return inputs
        sources = keras.utils.get_source_inputs(self.input_tensor)
        return sources[0] if len(sources) == 1 else sources

    def preprocess(self, inputs):
        """`inputs` normalised by the model's own layer, or unchanged without it."""
        if not self.include_preprocessing:
            return inputs
        return zl.Preprocess(self.preprocessing, name="preprocessing")(inputs)

    def top(self, x, head=None, default_dropout=0.0):
        """The classifier (`head(x)`, or pooling, dropout and logits) or the pooling."""
        if self.include_top:
            if head is not None:
                return head(x)
            return zl.classifier_head(x, self.num_classes, dropout=self.dropout_or(default_dropout),
                                      activation=self.classifier_activation)
        return zl.global_pool(x, self.pooling)

    def dense_head(self, hidden, *, default_dropout, activation="relu"):
        """The head of LeNet-5, AlexNet and VGG for `finish`: flatten, the fully
        connected layers `hidden` = ((name, units), ...) with dropout, then logits."""
        if self.include_top and not self.features_only:
            self.require_fixed_size("include_top=True (its head flattens the feature map)")
        return functools.partial(zl.dense_head, num_classes=self.num_classes, hidden=hidden,
                                 activation=activation, dropout=self.dropout_or(default_dropout),
                                 classifier_activation=self.classifier_activation)

    def finish(self, inputs, x, features=(), head=None, default_dropout=0.0):
        """The model: weights loaded into the full graph; feature maps if asked.

        `features` are the feature maps at each downsampling step, shallow to
        deep; with `features_only` the model outputs those at `out_indices`.
        """
        inputs = self.model_inputs(inputs)
        if self.features_only:
            features = list(features)
            indices = tuple(range(len(features))) if self.out_indices is None else tuple(self.out_indices)
            bad = [i for i in indices if not isinstance(i, int) or not -len(features) <= i < len(features)]
            if not features or bad:
                raise ValueError(f"{self.name}: out_indices must index its {len(features)} "
                                 f"feature maps (0..{len(features) - 1}); got {self.out_indices!r}.")
            model = keras.Model(inputs, x, name=self.name)
            self._load_weights(model, include_top=False)
            return keras.Model(inputs, [features[i] for i in indices], name=self.name)
        model = keras.Model(inputs, self.top(x, head, default_dropout), name=self.name)
        self._load_weights(model, include_top=self.include_top)
        return model

    def _load_weights(self, model, include_top):
        if self.weights is None:
            return
        if self.weights == "imagenet":
            model.load_weights(self.published_weights.fetch(include_top, self.name))
            return
        path = os.fspath(self.weights)
        try:
            if path.endswith(".keras"):
                source = keras.saving.load_model(path, compile=False)
                model.set_weights(source.get_weights())
            else:
                model.load_weights(path)
        except Exception as error:
            raise ValueError(f"{self.name}: could not load weights from {path!r} "
                             f"(a .keras, .weights.h5 or legacy .h5 file of the same "
                             f"architecture): {error}") from error
