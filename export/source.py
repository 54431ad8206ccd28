"""The Keras model to export: a .keras file, a zoo name with fresh weights, or
a model in memory; made single-input, with the side branches dropped."""

import os
import zipfile

import keras

import zoo
from export.errors import ExportError
from zoo import layers as zl

# What a detection model's four outputs (zoo.detection_model) hold: boxes [N, 4] as
# (x_min, y_min, x_max, y_max) pixels, scores [N], classes [N] (-1 past the count), count.
DETECTION_KINDS = ("detection_boxes", "detection_scores", "detection_classes", "detection_count")
# What an image-to-image model's output holds (zoo.layers.PixelRange's, e.g. style_net):
# 0-255 pixels of the input's size.
IMAGE_KINDS = ("image",)
# A raw YOLO grid (zoo.layers.YoloGrid): what a detection run's best.keras returns,
# before zoo.detection_model adds decoding and NMS.
YOLO_GRID = "yolo_grid"


def parse_shape(text):
    """'32,32,3' (or a sequence) -> (32, 32, 3); None stays None."""
    if text is None or text == "" or text == []:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        shown = text if isinstance(text, str) else ",".join(map(str, text))
        raise ExportError(f"input_shape must be height,width,channels of positive ints "
                          f"(e.g. 32,32,3); got {shown!r}.")
    return shape


def _is_path(spec):
    return spec.endswith(".keras") or os.sep in spec or os.path.exists(spec)


def _load_keras(path):
    if not os.path.isfile(path):
        raise ExportError(f"Model file {path!r} does not exist; pass a .keras file or a zoo "
                          f"model name (one of: {', '.join(zoo.list_models())}).")
    if not zipfile.is_zipfile(path):
        raise ExportError(f"Model file {path!r} is not a valid .keras archive (a zip written "
                          f"by model.save); it may be truncated or corrupt.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # keras raises many types for a damaged archive
        raise ExportError(f"Could not load {path!r} as a Keras model: "
                          f"{type(error).__name__}: {error}") from error


def load_model(spec, input_shape=None, num_classes=None):
    """A keras.Model from a .keras path or a zoo name (fresh weights).

    `input_shape` is required for a zoo name only if its default is not wanted,
    and for a saved model only if its input has unknown dimensions.
    """
    if isinstance(spec, keras.Model):
        model = spec
    elif not isinstance(spec, (str, os.PathLike)) or not str(spec):
        raise ExportError(f"model must be a keras.Model, a .keras path or a zoo model name; "
                          f"got {spec!r}.")
    elif _is_path(os.fspath(spec)):
        model = _load_keras(os.fspath(spec))
    else:
        kwargs = {}
        if input_shape is not None:
            kwargs["input_shape"] = tuple(input_shape)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        try:
            model = zoo.build(spec, **kwargs)
        except (ValueError, TypeError) as error:
            raise ExportError(str(error)) from error
        input_shape = None  # the build used it
    return inference_model(float32_model(model), input_shape)


def _float32_policies(config):
    """`config` with every dtype policy (mixed_bfloat16, mixed_float16, ...) made float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config


def float32_model(model):
    """The model in float32: a mixed-precision model (as `--mixed_precision` trains)
    rebuilt with float32 layers and the same weights, since TFLite kernels for
    bfloat16 ops exist only as Flex ops. Variables are float32 under mixed
    precision already, so the weights copy exactly."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    rebuilt = model.__class__.from_config(_float32_policies(model.get_config()))
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def inference_model(model, input_shape=None):
    """The model a phone runs: one image input of known shape, no side branches.

    Side branches (GoogLeNet's aux1/aux2 classifiers, or any output whose layer
    name starts with "aux") only serve training; they are dropped here.
    """
    if len(model.inputs) != 1:
        raise ExportError(f"{model.name} has {len(model.inputs)} inputs; export handles "
                          "models with one image input.")
    try:
        stripped = zoo.inference_model(model)
    except ValueError as error:
        raise ExportError(str(error)) from None
    saved_shape = tuple(model.inputs[0].shape[1:])
    if input_shape is not None and tuple(input_shape) != saved_shape:
        if any(d is not None and d != n for d, n in zip(saved_shape, input_shape)) \
                or len(saved_shape) != len(input_shape):
            raise ExportError(f"input_shape {tuple(input_shape)} does not fit {model.name}'s "
                              f"input {saved_shape}.")
        inputs = keras.Input(shape=tuple(input_shape))
        return keras.Model(inputs, stripped(inputs), name=model.name)
    if any(d is None for d in saved_shape):
        raise ExportError(f"{model.name}'s input shape {saved_shape} has unknown dimensions; "
                          "pass input_shape (e.g. --input_shape=224,224,3).")
    return model if len(stripped.outputs) == len(model.outputs) else stripped


def value_range_of(model):
    """The input range the model expects: 0-255 if it normalises its own input
    (the zoo's Preprocess layer, or EfficientNet's leading Rescaling), else 0-1
    (built with include_preprocessing=False, or saved before models had it)."""
    for layer in model.layers[1:3]:
        if isinstance(layer, (zl.Preprocess, keras.layers.Rescaling)):
            return (0.0, 255.0)
    return (0.0, 1.0)


def output_kinds(model):
    """What each output holds, for the metadata, told by its shape: one vector per
    image from a single-output model is logits (embeddings after an L2
    normalisation), a map at the input's height and width per-pixel logits
    (probabilities after a softmax), a detector's four outputs DETECTION_KINDS, pixels
    out of zoo.layers.PixelRange IMAGE_KINDS, a YOLO grid YOLO_GRID, anything else
    features. Callers that know
    better (the harness knows its task) pass output_kinds."""
    size = tuple(model.inputs[0].shape[1:3])
    layers = [type(t._keras_history.operation) for t in model.outputs]
    if layers == [zl.YoloDetections] * 4:
        return list(DETECTION_KINDS)
    if layers == [zl.PixelRange]:
        return list(IMAGE_KINDS)
    if layers == [zl.YoloGrid]:
        return [YOLO_GRID]
    kinds = []
    for tensor in model.outputs:
        shape = tuple(tensor.shape)
        if isinstance(tensor._keras_history.operation, keras.layers.UnitNormalization):
            kinds.append("embeddings")
            continue
        if len(shape) == 2 and len(model.outputs) == 1:
            kind = "logits"
        elif len(shape) == 4 and shape[1:3] == size:
            kind = "per_pixel_logits"
        else:
            kinds.append("features")
            continue
        layer = tensor._keras_history.operation
        if getattr(getattr(layer, "activation", None), "__name__", "linear") == "softmax":
            kind = kind.replace("logits", "probabilities")
        kinds.append(kind)
    return kinds
