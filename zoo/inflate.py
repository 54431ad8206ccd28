"""I3D-style inflation (Carreira and Zisserman, 2017): a 2D model's weights start a
3D model for clips or volumes.

The 3D model is the 2D graph with each layer replaced by its 3D form, time first:
a k x k conv with "same" padding becomes t x k x k (its kernel repeated t times
along time and divided by t, so a clip of identical frames gives each frame the
2D response); "valid" convs (which follow an explicit ZeroPadding in the
keras.applications graphs), pools, paddings and strides act per frame. With
`time_kernel=1` every frame is processed exactly as the 2D model processes it;
with t > 1 the outputs on a still clip equal the 2D ones away from the clip's
ends (where "same" padding brings zeros in).
"""

import keras
import numpy as np

# 2D layer class -> its 3D form
_CONV = {"Conv2D": "Conv3D", "Conv2DTranspose": "Conv3DTranspose"}
_PER_FRAME = {"MaxPooling2D": "MaxPooling3D", "AveragePooling2D": "AveragePooling3D",
              "GlobalAveragePooling2D": "GlobalAveragePooling3D",
              "GlobalMaxPooling2D": "GlobalMaxPooling3D", "ZeroPadding2D": "ZeroPadding3D",
              "UpSampling2D": "UpSampling3D"}
_REFUSED = {"Flatten": "it flattens a map whose size would depend on the clip length "
                      "(build the 2D model with include_top=False and pooling)",
            "ConnectionTableConv2D": "LeNet-5's connection table has no 3D form"}


def inflate(model, depth, *, time_kernel=1):
    """The 3D version of the 2D `model` for clips of `depth` frames (None: any),
    its weights inflated. `time_kernel`: the temporal size of each "same" conv
    (1: exact per frame; None: the conv's own spatial size, as I3D)."""
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"inflate takes a 2D model with one (batch, height, width, channels) "
                         f"input; {model.name} has inputs {[tuple(t.shape) for t in model.inputs]}.")
    if time_kernel is not None and (isinstance(time_kernel, bool) or not isinstance(time_kernel, int)
                                    or time_kernel < 1):
        raise ValueError(f"time_kernel must be a positive int or None; got {time_kernel!r}.")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a positive int (frames) or None; got {depth!r}.")
    config = model.get_config()
    times = {}  # layer name -> temporal size of its inflated kernel
    for entry in config["layers"]:
        layer = model.get_layer(entry["config"]["name"])
        times[layer.name] = _inflate_config(entry, layer, depth, time_kernel)
    inflated = keras.Model.from_config(
        config, custom_objects={type(layer).__name__: type(layer) for layer in model.layers})
    for layer in model.layers:
        if layer.weights:
            inflated.get_layer(layer.name).set_weights(_inflate_weights(layer, times[layer.name]))
    return inflated


def _inflate_config(entry, layer, depth, time_kernel):
    """Rewrites one layer's config entry in place to its 3D form; returns its temporal kernel."""
    name, config = entry["class_name"], entry["config"]
    entry.pop("build_config", None)  # 2D shapes; the layer builds on its 3D input
    if name == "InputLayer":
        config["batch_shape"] = [config["batch_shape"][0], depth, *config["batch_shape"][1:]]
        return 1
    if name in _REFUSED:
        raise ValueError(f"inflate cannot make layer {layer.name!r} ({name}) 3D: {_REFUSED[name]}.")
    if name == "Reshape" and len(config["target_shape"]) == 3:  # squeeze-excite's (1, 1, C)
        config["target_shape"] = [1, *config["target_shape"]]
        return 1
    if name == "DepthwiseConv2D":
        # No DepthwiseConv3D: a grouped Conv3D with one group per channel, as zoo.layers builds.
        channels = layer.input.shape[-1]
        entry["class_name"] = "Conv3D"
        entry.pop("registered_name", None)
        entry["config"] = config = {
            **{k: config[k] for k in ("name", "trainable", "dtype", "kernel_size", "strides",
                                      "padding", "data_format", "dilation_rate", "activation",
                                      "use_bias")},
            "filters": channels * config["depth_multiplier"], "groups": channels}
    if entry["class_name"] in _CONV.values() or name in _CONV:
        time = 1 if config["padding"] == "valid" else (time_kernel or config["kernel_size"][0])
        entry["class_name"] = _CONV.get(name, entry["class_name"])
        _prepend_time(config, time)
        return time
    if name in _PER_FRAME:
        entry["class_name"] = _PER_FRAME[name]
        _prepend_time(config, 1)
        return 1
    if name.endswith(("1D", "2D", "3D")):
        raise ValueError(f"inflate has no 3D form for layer {layer.name!r} ({name}).")
    return 1


def _prepend_time(config, kernel):
    """Time first in each per-axis field: `kernel` for the kernel size, 1 for strides,
    pool sizes, dilations and upsampling, no padding."""
    for key in ("kernel_size", "strides", "pool_size", "dilation_rate", "size"):
        if isinstance(config.get(key), (list, tuple)):
            config[key] = [kernel if key == "kernel_size" else 1, *config[key]]
    if isinstance(config.get("padding"), (list, tuple)):  # ZeroPadding2D's ((top, bottom), ...)
        config["padding"] = [[0, 0], *config["padding"]]


def _inflate_weights(layer, time):
    """The 2D layer's weights in their 3D shapes: kernels repeated `time` times along
    time and divided by it; everything else as is."""
    weights = layer.get_weights()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        # (k, k, channels, multiplier) -> the grouped conv's (k, k, 1, channels * multiplier)
        k1, k2, channels, multiplier = weights[0].shape
        weights[0] = weights[0].reshape(k1, k2, 1, channels * multiplier)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                          keras.layers.DepthwiseConv2D)):
        weights[0] = np.repeat(weights[0][None], time, axis=0) / time
    return weights
