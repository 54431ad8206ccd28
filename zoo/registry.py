"""The registry: one decorator to register a builder, one lookup to build it.

A registered builder is a callable `builder(options, **family_kwargs)` that
returns a `keras.Model`; `options` is a validated `zoo.options.BuildOptions`
holding the arguments every classifier shares (the keras.applications set).
The registry owns the defaults and the checks, so family files stay thin.
"""

import dataclasses
import fnmatch
import functools
import inspect
import math
import re

import keras

from zoo.options import BuildOptions, common_kwargs
from zoo.utils import did_you_mean

_MODELS = {}

# What a caller may pass; `published_weights` and `preprocessing` come from the registry entry.
COMMON_ARGS = tuple(f.name for f in dataclasses.fields(BuildOptions)
                    if f.init and f.name not in ("published_weights", "preprocessing"))


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """What the registry knows of a model without building it (see `get_entry`)."""

    name: str
    builder: callable
    paper: str
    input_shape: tuple
    num_classes: int
    min_size: int
    input_range: tuple
    # How the model normalises its 0-255 input: a zoo.layers.preprocess.MODES key
    # ("caffe", "tf", "unit"), or "efficientnet" (keras' own layers, always inside).
    preprocessing: str
    task: str
    published_weights: object  # zoo.options.PublishedWeights or None
    loss_weights: tuple | None
    # The layers with weights that the classifier top adds (with any family
    # arguments, e.g. GoogLeNet's side branches): what transfer learning
    # re-initialises for new classes.
    head_layers: tuple
    # ((stride, channels), ...) of the `features_only` maps at the default
    # arguments, shallow to deep (timm's FeatureInfo); None: no such form.
    features: tuple | None
    # The spatial ranks it builds in: 1 (signals), 2 (images), 3 (volumes, clips).
    spatial_dims: tuple = (2,)
    # The augmentations the training harness uses unless --augment says otherwise.
    augment: tuple = ()
    # The harness's default (Adam) learning rate for it unless --learning_rate says
    # otherwise; None: its task's default.
    learning_rate: float | None = None

    def family_args(self):
        """The keyword arguments the family builder takes beyond the common ones."""
        params = inspect.signature(self.builder).parameters
        return tuple(name for name, p in params.items() if p.kind is p.KEYWORD_ONLY)

    @property
    def arguments(self):
        """Every keyword argument `zoo.build` accepts for this model."""
        return COMMON_ARGS + self.family_args()

    @property
    def imagenet_weights(self):
        """Whether published ImageNet weights exist (for some arguments, for MobileNet)."""
        return self.published_weights is not None


def register_model(name, builder=None, *, paper, input_shape, min_size, num_classes=1000,
                   preprocessing="unit", input_range=(0.0, 255.0), task="classification",
                   published_weights=None,
                   loss_weights=None, head_layers=("predictions",), features=None,
                   spatial_dims=(2,), augment=(), learning_rate=None):
    """Registers `builder` under `name`; usable as a decorator.

    `input_shape` and `num_classes` are the defaults `zoo.build` passes when the
    caller gives none; inputs smaller than `min_size` are refused before any
    layer is built; `preprocessing` is how the model normalises its input inside
    (see `zoo.layers.preprocess.MODES`); `input_range` is the pixel range the
    model expects with that preprocessing (0-255 for all here); `loss_weights`
    (e.g. GoogLeNet's 1, 0.3, 0.3) tells the training harness how to weigh a multi-output model's losses; `head_layers`
    names the layers with weights that the classifier top adds; `features` gives
    the (stride, channels) of each `features_only` map at the default arguments;
    `spatial_dims` the ranks it builds in (input_shape of 1 + that many axes);
    `augment` the harness's default augmentations for it; `learning_rate` its
    default learning rate in the harness (None: its task's), for models that do
    not learn at the task's.
    """

    def register(fn):
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _MODELS[name] = ModelEntry(
            name=name, builder=fn, paper=paper, input_shape=tuple(input_shape),
            num_classes=num_classes, min_size=min_size, input_range=tuple(input_range),
            preprocessing=preprocessing, task=task,
            published_weights=published_weights,
            loss_weights=tuple(loss_weights) if loss_weights else None,
            head_layers=tuple(head_layers),
            features=None if features is None else tuple(map(tuple, features)),
            spatial_dims=tuple(spatial_dims), augment=tuple(augment),
            learning_rate=_check_learning_rate(name, learning_rate))
        return fn

    return register if builder is None else register(builder)


def _check_learning_rate(name, rate):
    if rate is not None and not (isinstance(rate, (int, float)) and not isinstance(rate, bool)
                                 and rate > 0):
        raise ValueError(f"register_model({name!r}): learning_rate must be a positive number "
                         f"or None; got {rate!r}.")
    return None if rate is None else float(rate)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of model `name`: its facts without building anything."""
    if name not in _MODELS:
        hint = did_you_mean(name, _MODELS, n=5)
        raise ValueError(f"Unknown model name {name!r}.{hint} "
                         f"Known models: {', '.join(list_models())}.")
    return _MODELS[name]


def build(model: str, /, **kwargs) -> keras.Model:
    """Builds the registered model `name` and returns a functional `keras.Model`.

    Common arguments: name, input_shape (None: the default; None for height
    and width: any size), num_classes (or keras.applications' `classes`),
    include_top, pooling, weights, classifier_activation, dropout,
    features_only, out_indices, input_tensor, include_preprocessing (True:
    0-255 pixels in, normalised inside). Family
    arguments (alpha, aux_logits, ...) are listed by
    `zoo.get_entry(model).arguments`.
    """
    entry = get_entry(model)
    family = entry.family_args()
    kwargs = common_kwargs(kwargs, name=model, input_shape=entry.input_shape,
                           num_classes=entry.num_classes)
    unknown = sorted(set(kwargs) - set(COMMON_ARGS) - set(family))
    if unknown:
        raise TypeError(f"{model} got unknown argument(s) {', '.join(unknown)}; "
                        f"it accepts: {', '.join(COMMON_ARGS + family)}.")
    common = {k: v for k, v in kwargs.items() if k in COMMON_ARGS}
    options = BuildOptions(**common, published_weights=entry.published_weights,
                           preprocessing=entry.preprocessing)
    if options.spatial_dims not in entry.spatial_dims:
        raise ValueError(f"{model} is built in {' and '.join(f'{d}D' for d in entry.spatial_dims)}; "
                         f"got the {options.spatial_dims}D input_shape={options.input_shape}.")
    options.check_min_size(entry.min_size)
    return entry.builder(options, **{k: v for k, v in kwargs.items() if k in family})


def _natural_key(name):
    # Digit runs compare as numbers, so resnet18 comes before resnet101.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching an fnmatch `pattern`, in natural order."""
    return sorted((n for n in _MODELS if fnmatch.fnmatchcase(n, pattern)), key=_natural_key)


@functools.lru_cache(maxsize=None)
def model_info(name):
    """The entry's facts plus what needs a build: params and FLOPs at the default input."""
    from zoo.flops import count_flops

    entry = get_entry(name)
    model = build(name)
    return {
        "name": name,
        "task": entry.task,
        "paper": entry.paper,
        "input_shape": entry.input_shape,
        "num_classes": entry.num_classes,
        "min_size": entry.min_size,
        "input_range": entry.input_range,
        "preprocessing": entry.preprocessing,
        "params": model.count_params(),
        "trainable_params": sum(math.prod(w.shape) for w in model.trainable_weights),
        "flops": count_flops(model),
        "imagenet_weights": entry.imagenet_weights,
        "loss_weights": entry.loss_weights,
        "arguments": entry.arguments,
    }
