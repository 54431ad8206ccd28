"""The convolutional implementation of sliding windows (OverFeat, Sermanet et
al. 2014; the course's "turning FC layers into convolutional layers"): a
classifier whose fully connected head is rewritten as convolutions runs on a
larger image in one pass and returns one class-score vector per window.
"""

import keras
import numpy as np
from keras import layers

# Layers of a Flatten -> Dense head that act per position, so they carry over as they are.
_PER_POSITION = (layers.Dropout, layers.Activation)


def _head_chain(model, flatten):
    """The layers from `flatten` to the output, checked to be one chain of
    Dense, Dropout and Activation layers."""
    chain, tensor = [], flatten.output
    consumers = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for source in node.input_tensors:
                consumers.setdefault(id(source), []).append(layer)
    while tensor is not model.outputs[0]:
        following = consumers.get(id(tensor), [])
        if len(following) != 1 or not isinstance(following[0], (layers.Dense, *_PER_POSITION)):
            names = [f"{type(layer).__name__} {layer.name!r}" for layer in following] or ["nothing"]
            raise ValueError(f"convolutionalize: {model.name}'s head after {flatten.name!r} must be one chain of "
                             f"Dense, Dropout and Activation layers to the output; found {', '.join(names)}.")
        chain.append(following[0])
        tensor = following[0].output
    return chain


def _as_conv(dense, kernel_size, name):
    """`dense` as a Conv2D over `kernel_size` windows with the same weights: a
    Flatten of an (h, w, c) window orders its values h, then w, then c, as a
    Conv2D kernel [h, w, c, units] does."""
    conv = layers.Conv2D(dense.units, kernel_size, activation=dense.activation, use_bias=dense.use_bias,
                         name=name, dtype=dense.dtype_policy)
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    conv.build((None, *kernel_size, kernel.shape[0] // int(np.prod(kernel_size))))
    conv.kernel.assign(kernel.reshape(conv.kernel.shape))
    if dense.use_bias:
        conv.bias.assign(dense.bias)
    return conv


def convolutionalize(model):
    """The classifier `model` (a Flatten -> Dense head, e.g. LeNet-5, AlexNet,
    VGG) as a fully convolutional model of any input size: the first Dense after
    the Flatten becomes a k x k Conv2D, k x k being the map it flattened, and
    each later Dense a 1 x 1 Conv2D, all with the Dense layers' weights
    (Dropout and Activation layers carry over). It is a new model: its layers
    are copies, with the same names and weights (training one leaves the other).

    On an image at least the original size it returns [batch, rows, columns,
    classes]: the class scores of every window of the original size, windows
    stepping by the network's stride (the product of its conv and pool
    strides), in one pass instead of one pass per window.

    What each cell equals depends on the padding:
    - with "valid" convolutions and pools only (LeNet-5), each cell is exactly
      the classifier's output on the corresponding crop of the image (the crop
      at (stride * row, stride * column)), up to float rounding: a valid layer
      computes each output from its window alone;
    - with "same" padding (VGG), each cell is the Dense head applied to the
      corresponding k x k window of the large image's last feature map, not the
      classifier on that crop: inside the large image a window's border pixels
      see their real neighbours where the crop saw zero padding, so the
      features near a crop's border differ.
    """
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"convolutionalize takes a keras.Model with one input and one output; got {model!r}.")
    flattens = [layer for layer in model.layers if isinstance(layer, layers.Flatten)]
    if len(flattens) != 1:
        raise ValueError(f"convolutionalize: {model.name} has {len(flattens)} Flatten layers; it needs a head of "
                         "one Flatten then Dense layers (LeNet-5, AlexNet, VGG). A model with a global pooling "
                         "head already takes any input size: build it with input_shape=(None, None, C).")
    flatten = flattens[0]
    chain = _head_chain(model, flatten)
    window = tuple(flatten.input.shape[1:3])
    if len(flatten.input.shape) != 4 or None in window:
        raise ValueError(f"convolutionalize: {model.name}'s Flatten must read a fixed-size 2D map; "
                         f"it reads {tuple(flatten.input.shape)}.")
    # The body's layers rebuilt on an input of any size, with the body's weights.
    body = keras.Model(model.inputs[0], flatten.input)
    inputs = keras.Input((None, None, model.inputs[0].shape[-1]), name=model.inputs[0].name)
    body_copy = keras.models.clone_model(body, input_tensors=inputs)
    body_copy.set_weights(body.get_weights())
    x, kernel = body_copy.outputs[0], window
    for layer in chain:
        if isinstance(layer, layers.Dense):
            layer = _as_conv(layer, kernel, f"{layer.name}_conv")
            kernel = (1, 1)
        else:
            layer = layer.__class__.from_config(layer.get_config())
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_convolutional")
