"""Image synthesis by optimising pixels against a CNN's features: neural style
transfer (Gatys et al. 2016), texture synthesis (Gatys et al. 2015), feature
inversion (Mahendran and Vedaldi 2015), DeepDream (Mordvintsev et al.
2015) and class visualisation (Simonyan et al. 2014, with Yosinski et al.'s
regularisers), on any zoo model and any of its layers.

    from zoo import synthesis
    content, style = synthesis.load_image("chelsea", 128), synthesis.load_image("brick", 128)
    image, history = synthesis.style_transfer(content, style, weights="imagenet")

The costs are the course's (Coursera Deep Learning, course 4, week 4):

- content:  J_content = 1/2 * ||a(C) - a(G)||^2
- Gram:     G_kk' = sum_ij a_ijk a_ijk'
- style:    J_style_l = 1 / (2 n_H n_W n_C)^2 * sum_kk' (G_kk'(S) - G_kk'(G))^2,
            J_style = sum_l lambda_l J_style_l;  J = alpha J_content + beta J_style

Why the optimisers normalise them by default (`normalize=True`): the raw costs
of different layers differ by orders of magnitude (a Gram matrix is a fourth
power of activations, whose scale changes from layer to layer: by a factor of
about 2 per ReLU layer in a randomly initialised VGG, by the learned scales in
a trained one), so with lambda_l = 1 the shallow layers' costs swamp the deep
ones' and the deep layers' costs barely move. The optimisers therefore divide
each term by its value for an all-zero activation, i.e. by the target's own
norm: lambda_l = 1 / (L * J_style_l(S, 0)) = (2 n_H n_W n_C)^2 / (L ||G(S)||_F^2)
for L style layers, and J_content by 1/2 ||a(C)||^2. Every term is then
dimensionless, starts near 1 from a blank image, weighs the same whatever the
model, layer or image size, and alpha, beta and the per-layer weights you pass
are relative. `normalize=False` gives the course's raw costs and lambda_l = 1
(or yours). `tests/test_synthesis.py` shows both: each default style layer's
cost falls by >= 90% normalised, while raw the deepest barely moves.

Every image here is 0-255 pixels, (height, width, channels); the model's own
preprocessing stays inside it (`include_preprocessing`), so the optimisers work
on pixels and L-BFGS-B bounds them to [0, 255].
"""

import os
import typing

import keras
import numpy as np
import scipy.ndimage
import scipy.optimize
import tensorflow as tf

from zoo.inference import inference_model
from zoo.registry import build, get_entry
from zoo.utils import did_you_mean

# Gatys et al.'s layers for a VGG (post-ReLU, as their "conv1_1", ...; the zoo
# names the activation of block1_conv1 "block1_conv1_relu"). Used by default
# when the model has them (every zoo VGG does); other models default to their
# `features_only` maps (the registry's `features`).
VGG_STYLE_LAYERS = tuple(f"block{stage}_conv1_relu" for stage in range(1, 6))
VGG_CONTENT_LAYER = "block4_conv2_relu"

# scikit-image's photos and textures that ship in its wheel (no download).
SAMPLES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel",
           "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms",
           "moon", "page", "retina", "rocket", "text")
TV_FORMS = ("l1", "beta")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")


class Synthesis(typing.NamedTuple):
    """What the optimisers return: the image (float32, height x width x channels,
    0-255) and the costs at the start and after every step (numpy arrays by name:
    "loss" the objective optimised, then the course's raw costs: "content",
    "style" = sum_l lambda_l J_style_l with the weights used, "style:<layer>" =
    J_style_l, "tv")."""

    image: np.ndarray
    history: dict


# ---------------------------------------------------------------- the costs


def _activation(a, what):
    a = tf.convert_to_tensor(a, tf.float32)
    if a.shape.rank not in (3, 4):
        raise ValueError(f"{what} must be an activation of shape (n_H, n_W, n_C) or "
                         f"(batch, n_H, n_W, n_C); got shape {tuple(a.shape)}.")
    return a


def gram_matrix(a):
    """G_kk' = sum_ij a_ijk a_ijk' of an (n_H, n_W, n_C) activation: (n_C, n_C).

    A batch (b, n_H, n_W, n_C) gives one Gram matrix per image, (b, n_C, n_C).
    """
    a = _activation(a, "gram_matrix: a")
    return tf.einsum("...ijk,...ijl->...kl", a, a)


def content_cost(a_C, a_G):
    """J_content = 1/2 * ||a(C) - a(G)||^2, summed over every element (and image)."""
    a_C, a_G = _activation(a_C, "content_cost: a_C"), _activation(a_G, "content_cost: a_G")
    if a_C.shape[-3:] != a_G.shape[-3:]:
        raise ValueError(f"content_cost: a_C and a_G must have the same (n_H, n_W, n_C); "
                         f"got {tuple(a_C.shape)} and {tuple(a_G.shape)}.")
    return 0.5 * tf.reduce_sum(tf.square(a_C - a_G))


def _gram_per_position(a):
    """G / (n_H n_W): the Gram matrix as an average over positions, so that
    images of different sizes compare."""
    positions = tf.cast(a.shape[-3] * a.shape[-2], tf.float32)
    return gram_matrix(a) / positions


def _style_distance(gram_S, a_G):
    """1 / (4 n_C^2) * ||gram_S - G(G) / (n_H n_W)||^2 with `gram_S` per position."""
    channels = tf.cast(a_G.shape[-1], tf.float32)
    return tf.reduce_sum(tf.square(gram_S - _gram_per_position(a_G))) / (4.0 * channels ** 2)


def style_cost(a_S, a_G):
    """J_style_l = 1 / (2 n_H n_W n_C)^2 * sum_kk' (G_kk'(S) - G_kk'(G))^2.

    Computed as 1 / (4 n_C^2) * ||G(S) / (n_H n_W) - G(G) / (n_H n_W)||^2, the
    same number when S and G have the same size (the course's case), and the
    natural extension when they do not: each Gram matrix is divided by its own
    number of positions, so a style image of any size can be matched (the
    course's formula would compare sums over different numbers of positions).
    A batch gives the sum over its images (a style batch of 1 broadcasts).
    """
    a_S, a_G = _activation(a_S, "style_cost: a_S"), _activation(a_G, "style_cost: a_G")
    if a_S.shape[-1] != a_G.shape[-1]:
        raise ValueError(f"style_cost: a_S and a_G must have the same number of channels "
                         f"n_C; got shapes {tuple(a_S.shape)} and {tuple(a_G.shape)}.")
    return _style_distance(_gram_per_position(a_S), a_G)


def total_variation(image, form="l1", beta=2.0):
    """The total variation of an (height, width, channels) image or a batch of them.

    form="l1": sum |x[i+1, j] - x[i, j]| + sum |x[i, j+1] - x[i, j]| over every
        channel: anisotropic, equal to `tf.image.total_variation` (summed over a batch).
    form="beta": sum_ij ((x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2)^(beta / 2)
        over i < height - 1, j < width - 1 and the channels: Mahendran and
        Vedaldi's TV^beta prior (eq. 5). beta=2 is the squared form, smooth for
        L-BFGS; the keras.io style transfer example's is beta=2.5.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    if image.shape.rank not in (3, 4):
        raise ValueError(f"total_variation: image must be (height, width, channels) or a "
                         f"batch of them; got shape {tuple(image.shape)}.")
    if form not in TV_FORMS:
        raise ValueError(f"total_variation: form must be one of {TV_FORMS}; got {form!r}.")
    down = image[..., 1:, :, :] - image[..., :-1, :, :]
    right = image[..., :, 1:, :] - image[..., :, :-1, :]
    if form == "l1":
        return tf.reduce_sum(tf.abs(down)) + tf.reduce_sum(tf.abs(right))
    if not beta > 0:
        raise ValueError(f"total_variation: beta must be positive; got {beta!r}.")
    squared = tf.square(down[..., :, :-1, :]) + tf.square(right[..., :-1, :, :])
    if beta == 2:
        return tf.reduce_sum(squared)
    # The gradient of s^(beta/2) at s = 0 is infinite for beta < 2: keep s off 0.
    return tf.reduce_sum(tf.pow(squared + 1e-8, beta / 2.0))


# ---------------------------------------------------------------- features


def _given_model(model, weights):
    """The keras.Model `model` is, when it is one or a .keras file (loaded with
    safe_mode, side branches dropped); None when it is a zoo model name."""
    if isinstance(model, os.PathLike) or (isinstance(model, str) and _is_model_file(model)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ValueError(f"Model file {path!r} does not exist; pass a .keras file, a keras.Model "
                             f"or a zoo model name (e.g. vgg19; zoo.list_models() lists them).")
        try:
            model = inference_model(keras.saving.load_model(path, compile=False, safe_mode=True))
        except Exception as error:  # keras raises many types for a damaged archive
            raise ValueError(f"Could not load {path!r} as a Keras model: {type(error).__name__}: {error}") from error
    if isinstance(model, keras.Model):
        if weights is not None:
            raise ValueError(f"weights applies to a zoo model name; got the model {model.name!r} "
                             f"and weights={weights!r}.")
        return model
    if not isinstance(model, str):
        raise ValueError(f"model must be a zoo model name, a .keras file or a keras.Model; got {model!r}.")
    return None


def _is_model_file(name):
    return name.endswith(".keras") or os.sep in name or os.path.exists(name)


def _backbone(model, weights):
    """(keras.Model, its feature-map layer names or None) for a zoo model name
    (built without its top, for any input size), a .keras file or a keras.Model."""
    given = _given_model(model, weights)
    if given is not None:
        return given, None
    entry = get_entry(model)
    shape = (None, None, entry.input_shape[-1])
    if entry.features is None:  # no top to drop (U-Net): the whole model
        return build(model, input_shape=shape, weights=weights), None
    built = build(model, include_top=False, features_only=True, input_shape=shape, weights=weights)
    return built, tuple(output._keras_history.operation.name for output in built.outputs)


def _default_layers(model, feature_maps):
    """(content layer, style layers): Gatys et al.'s for a VGG, else the
    deepest-but-one and all of the registry's feature maps."""
    names = {layer.name for layer in model.layers}
    if names.issuperset((*VGG_STYLE_LAYERS, VGG_CONTENT_LAYER)):
        return VGG_CONTENT_LAYER, VGG_STYLE_LAYERS
    if not feature_maps:
        raise ValueError(f"{model.name} has no default synthesis layers; pass them by name "
                         f"(its layers: {', '.join(layer.name for layer in model.layers)}).")
    return feature_maps[max(len(feature_maps) - 2, 0)], feature_maps


def _extractor(model, layers):
    outputs = {layer.name: layer.output for layer in model.layers
               if not isinstance(layer, keras.layers.InputLayer)}
    unknown = [name for name in layers if name not in outputs]
    if unknown:
        raise ValueError(f"{model.name} has no layer {unknown[0]!r}.{did_you_mean(unknown[0], outputs)} "
                         f"Its layers: {', '.join(outputs)}.")
    extractor = keras.Model(model.input, {name: outputs[name] for name in layers},
                            name=f"{model.name}_features")
    extractor.trainable = False
    return extractor


def _check_size(extractor, shape, what):
    """Raises a clear error when an image of `shape` is too small for the layers."""
    try:
        specs = extractor.compute_output_spec(keras.KerasTensor(shape))
        empty = [layer for layer, spec in specs.items() if 0 in spec.shape]
    except ValueError:  # a pooling or valid convolution with nothing left to cover
        empty = list(extractor.output)  # the {layer: tensor} dict of _extractor
    if empty:
        raise ValueError(f"{what} of {shape[1]}x{shape[2]} pixels is too small for {', '.join(empty)} "
                         f"of {extractor.name}: it has no activations there.")


def feature_extractor(model="vgg19", layers=None, *, weights=None):
    """A keras.Model from 0-255 images (batch, height, width, channels) to the
    dict {layer name: activation} of `model`'s `layers` (a name or names).

    `model` is a zoo model name, built without its top for any input size with
    `weights` (None, "imagenet" or a file path), or a model that takes 0-255
    pixels: a .keras file (e.g. a zoo-train run's best.keras) or a keras.Model.
    `layers=None`: every layer. The model's own preprocessing stays inside;
    call it with `training=False` (BatchNorm in inference mode).
    """
    model, _ = _backbone(model, weights)
    if layers is None:
        layers = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return _extractor(model, [layers] if isinstance(layers, str) else list(layers))


# ---------------------------------------------------------------- images


def load_image(image, size=None):
    """0-255 float32 pixels (height, width, channels) of a scikit-image sample by
    name ("chelsea", "brick", "astronaut", ...), an image file, or an array;
    resized (antialiased) so its shorter side is `size`, or to (height, width)."""
    if isinstance(image, (str, os.PathLike)):
        image = _read(os.fspath(image))
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise ValueError(f"An image must be (height, width) or (height, width, channels); "
                         f"got shape {pixels.shape}.")
    if size is not None:
        height, width = pixels.shape[:2]
        if isinstance(size, int):
            scale = size / min(height, width)
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
        pixels = tf.image.resize(pixels, size, method="area" if size[0] < height else "bilinear").numpy()
    return np.clip(pixels, 0, 255)


def _read(name):
    if os.path.exists(name):
        try:
            return keras.utils.img_to_array(keras.utils.load_img(name))
        except OSError as error:  # PIL's UnidentifiedImageError, a directory, ...
            raise ValueError(f"{name!r} is not an image file PIL can read ({error}); pass a PNG, JPEG, ... "
                             f"or a bundled scikit-image sample ({', '.join(SAMPLES)}).") from error
    if name not in SAMPLES:
        raise ValueError(f"{name!r} is neither an image file nor a bundled scikit-image sample "
                         f"({', '.join(SAMPLES)}).{did_you_mean(name, SAMPLES)}")
    from skimage import data

    return getattr(data, name)()


def _as_input(image, extractor, what):
    """(1, height, width, channels) float32 0-255 pixels for `extractor`'s input."""
    pixels = _pixels(image, extractor.input_shape[-1], what)
    _check_size(extractor, pixels.shape, what)
    return pixels


def _pixels(image, channels, what):
    """(1, height, width, channels) float32 0-255 pixels with `channels` channels."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 4 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise ValueError(f"{what} must be (height, width), (height, width, channels) or "
                         f"(1, height, width, channels); got shape {np.shape(image)}.")
    if pixels.size and not (pixels.min() >= 0 and pixels.max() <= 255):
        raise ValueError(f"{what} must hold 0-255 pixels; got values in "
                         f"[{pixels.min():g}, {pixels.max():g}].")
    have = pixels.shape[-1]
    if have == 1 and channels > 1:
        pixels = np.repeat(pixels, channels, axis=-1)
    elif have in (3, 4) and channels == 1:
        pixels = pixels[..., :3] @ np.float32([0.299, 0.587, 0.114])[:, None]  # ITU-R 601 luma
    elif have == 4 and channels == 3:
        pixels = pixels[..., :3]  # drop alpha
    elif have != channels:
        raise ValueError(f"{what} has {have} channels; the model takes {channels}.")
    return pixels[None]


# ---------------------------------------------------------------- optimisation


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


def _check_number(name, value, low, integer=False):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value >= low:
        raise ValueError(f"{name} must be {'an int' if integer else 'a number'} >= {low}; got {value!r}.")


def _layer_weights(layers, what):
    """{layer: lambda_l} from a name, names (lambda_l = 1) or a dict."""
    if isinstance(layers, str):
        layers = {layers: 1.0}
    elif not isinstance(layers, dict):
        layers = dict.fromkeys(layers, 1.0)
    if not layers:
        raise ValueError(f"{what} must name at least one layer; got {layers!r}.")
    return {name: float(weight) for name, weight in layers.items()}


def _own_cost(cost, layer, what):
    """A target's cost against a blank activation: what normalises its term."""
    cost = float(cost)
    if not cost > 0:
        raise ValueError(f"Layer {layer!r} is all zeros on the {what} image, so its cost "
                         "cannot be normalised; choose another layer (or normalize=False).")
    return cost


class _Objective:
    """J(G) = alpha * w_c * J_content + beta * sum_l lambda_l J_style_l + tv_weight * TV,
    with w_c and lambda_l normalised by the targets (see the module docstring)
    and TV = total_variation(G / 255) / (height * width).

    `content`: {layer: (target activation, weight)}; `style`: {layer: (target
    activation, lambda_l)}. The value-and-gradient function is traced once per
    image shape.
    """

    def __init__(self, extractor, *, content=None, style=None, alpha=1.0, beta=1.0,
                 tv_weight=0.0, tv_form="beta", tv_beta=2.0, normalize=True):
        _check_choice("tv_form", tv_form, TV_FORMS)
        self.extractor = extractor
        content, style = content or {}, style or {}
        self.content_targets = {layer: tf.constant(a) for layer, (a, _) in content.items()}
        self.style_grams = {layer: _gram_per_position(tf.constant(a)) for layer, (a, _) in style.items()}
        self.content_weights, self.style_weights = {}, {}
        for layer, (a, weight) in content.items():
            # J_content(C, 0) = 1/2 ||a(C)||^2
            norm = _own_cost(content_cost(a, tf.zeros_like(a)), layer, "content") if normalize else 1.0
            self.content_weights[layer] = weight / norm
        for layer, (a, weight) in style.items():
            # L * J_style_l(S, 0) = L ||G(S)||^2 / (2 n_H n_W n_C)^2: the style image's own Gram norm
            blank = tf.zeros_like(a[..., :1, :1, :])
            own = _style_distance(self.style_grams[layer], blank)
            norm = len(style) * _own_cost(own, layer, "style") if normalize else 1.0
            self.style_weights[layer] = weight / norm
        self.alpha, self.beta, self.tv_weight = float(alpha), float(beta), float(tv_weight)
        self.tv_form, self.tv_beta = tv_form, float(tv_beta)
        self.value_and_grad = tf.function(self._value_and_grad)

    def costs(self, x):
        features = self.extractor(x, training=False)
        costs, loss = {}, 0.0
        if self.content_targets:
            content = {layer: content_cost(target, features[layer]) for layer, target in self.content_targets.items()}
            costs["content"] = tf.add_n(list(content.values()))
            loss += self.alpha * tf.add_n([self.content_weights[layer] * cost for layer, cost in content.items()])
        if self.style_grams:
            for layer, gram in self.style_grams.items():
                costs[f"style:{layer}"] = _style_distance(gram, features[layer])
            costs["style"] = tf.add_n([weight * costs[f"style:{layer}"]
                                       for layer, weight in self.style_weights.items()])
            loss += self.beta * costs["style"]
        pixels = float(x.shape[1] * x.shape[2])
        costs["tv"] = total_variation(x / 255.0, self.tv_form, self.tv_beta) / pixels
        costs["loss"] = loss + self.tv_weight * costs["tv"]
        return costs

    def _value_and_grad(self, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            costs = self.costs(x)
        return costs, tape.gradient(costs["loss"], x)


def _noise(shape, seed):
    # Mid-grey noise: well inside [0, 255], so no pixel starts at a bound.
    return np.random.default_rng(seed).uniform(64.0, 192.0, shape).astype(np.float32)


def _optimize(objective, init, *, steps, optimizer, learning_rate, callback):
    """Minimises `objective` over the pixels from `init`, within [0, 255]."""
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    _check_number("steps", steps, 1, integer=True)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number of pixels; got {learning_rate!r}.")
    history = {}

    def record(costs):
        for name, value in costs.items():
            history.setdefault(name, []).append(float(value))
        if callback is not None:
            callback(len(history["loss"]) - 1, {name: values[-1] for name, values in history.items()})

    image = (_lbfgs if optimizer == "lbfgs" else _adam)(objective, tf.constant(init, tf.float32),
                                                        steps, learning_rate, record)
    return Synthesis(image[0], {name: np.asarray(values) for name, values in history.items()})


def _lbfgs(objective, init, steps, learning_rate, record):
    """scipy's L-BFGS-B with every pixel bounded to [0, 255].

    L-BFGS-B's first step with bounds is x - g (no line search beyond it): with
    normalised costs g is ~1e-5 per pixel, a step lost in float32 rounding that
    ends the search at once. The objective is therefore scaled so that the first
    step moves the most sensitive pixel by `learning_rate` pixels; later steps
    are scale-free (quasi-Newton).
    """
    shape, last = init.shape, {}
    costs, grad = objective.value_and_grad(init)
    record(costs)
    largest = float(tf.reduce_max(tf.abs(grad)))
    scale = learning_rate / largest if largest > 0 else 1.0

    def value_and_grad(flat):
        x = tf.constant(flat.reshape(shape), tf.float32)
        costs, grad = objective.value_and_grad(x)
        last.update(x=flat.copy(), costs=costs)
        return scale * float(costs["loss"]), scale * grad.numpy().astype(np.float64).ravel()

    def on_step(intermediate_result):
        # The accepted iterate is the line search's last evaluation; re-evaluate if not.
        if not np.array_equal(intermediate_result.x, last["x"]):
            value_and_grad(intermediate_result.x)
        record(last["costs"])

    result = scipy.optimize.minimize(
        value_and_grad, init.numpy().astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 255.0), callback=on_step,
        options={"maxiter": steps, "gtol": 0.0})
    return result.x.reshape(shape).astype(np.float32)


def _adam(objective, init, steps, learning_rate, record):
    """Adam on the pixels, clipped to [0, 255] after every step."""
    image = keras.Variable(init)
    adam = keras.optimizers.Adam(learning_rate)
    costs, grad = objective.value_and_grad(image.value)
    record(costs)
    for _ in range(steps):
        adam.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image.value, 0.0, 255.0))
        costs, grad = objective.value_and_grad(image.value)
        record(costs)
    return image.numpy()


# ---------------------------------------------------------------- the syntheses


def style_transfer(content, style, *, model="vgg19", weights=None, content_layer=None, style_layers=None,
                   alpha=1.0, beta=1.0, tv_weight=1.0, tv_form="beta", tv_beta=2.0, steps=100,
                   optimizer="lbfgs", learning_rate=4.0, init="content", normalize=True, seed=0,
                   callback=None):
    """Gatys et al.'s neural style transfer: the image G minimising
    alpha J_content(C, G) + beta J_style(S, G) + tv_weight TV(G).

    content, style: 0-255 images (any sizes; see `load_image`); the result has
    the content image's size. model, weights: see `feature_extractor`.
    content_layer: a layer name (or names, or {name: weight}); style_layers:
    names (equal lambda_l) or {name: lambda_l}; None: Gatys et al.'s VGG layers
    (block4_conv2 for content, block1..5_conv1 for style, post-ReLU), or the
    model's deepest-but-one and all of its feature maps.
    alpha, beta, tv_weight: the weights of the costs (normalised, see the
    module docstring; the TV term of a natural photo is ~0.02, so 1.0 only
    damps the high-frequency artefacts); tv_form, tv_beta: see
    `total_variation`. steps: L-BFGS-B iterations or Adam steps.
    learning_rate, in pixels: Adam's step; for L-BFGS-B, how far its first
    step moves the most sensitive pixel (see `_lbfgs`).
    init: "content" (start from C) or "noise" (seeded by `seed`).
    callback(step, costs): called with the costs at the start and after each step.
    Returns Synthesis(image, history).
    """
    _check_choice("init", init, INITS)
    backbone, maps = _backbone(model, weights)
    default_content, default_style = (None, None) if content_layer and style_layers else _default_layers(backbone, maps)
    content_weights = _layer_weights(content_layer or default_content, "content_layer")
    style_weights = _layer_weights(style_layers or default_style, "style_layers")
    extractor = _extractor(backbone, list({**content_weights, **style_weights}))
    content = _as_input(content, extractor, "content")
    on_content = extractor(content, training=False)
    on_style = extractor(_as_input(style, extractor, "style"), training=False)
    objective = _Objective(
        extractor, content={layer: (on_content[layer], w) for layer, w in content_weights.items()},
        style={layer: (on_style[layer], w) for layer, w in style_weights.items()},
        alpha=alpha, beta=beta, tv_weight=tv_weight, tv_form=tv_form, tv_beta=tv_beta, normalize=normalize)
    start = content if init == "content" else _noise(content.shape, seed)
    return _optimize(objective, start, steps=steps, optimizer=optimizer, learning_rate=learning_rate,
                     callback=callback)


def texture(example, size=None, *, model="vgg19", weights=None, layers=None, tv_weight=0.0, tv_form="beta",
            tv_beta=2.0, steps=100, optimizer="lbfgs", learning_rate=4.0, normalize=True, seed=0,
            callback=None):
    """Gatys et al.'s texture synthesis: from noise, the image whose Gram
    matrices at `layers` match the example's (minimising J_style + tv_weight TV).

    size: the output's (height, width) or side, None: the example's. layers:
    names or {name: lambda_l}; None: as style_transfer's style layers. The
    other arguments are style_transfer's. Returns Synthesis(image, history).
    """
    backbone, maps = _backbone(model, weights)
    style_weights = _layer_weights(layers or _default_layers(backbone, maps)[1], "layers")
    extractor = _extractor(backbone, list(style_weights))
    example = _as_input(example, extractor, "example")
    size = example.shape[1:3] if size is None else (size, size) if isinstance(size, int) else tuple(size)
    channels = example.shape[-1]
    _check_size(extractor, (1, *size, channels), "size")
    on_example = extractor(example, training=False)
    objective = _Objective(extractor, style={layer: (on_example[layer], w) for layer, w in style_weights.items()},
                           alpha=0.0, tv_weight=tv_weight, tv_form=tv_form, tv_beta=tv_beta, normalize=normalize)
    return _optimize(objective, _noise((1, *size, channels), seed), steps=steps, optimizer=optimizer,
                     learning_rate=learning_rate, callback=callback)


def invert(image, layer, *, model="vgg19", weights=None, tv_weight=0.05, tv_form="beta", tv_beta=2.0,
           steps=100, optimizer="lbfgs", learning_rate=4.0, normalize=True, seed=0, callback=None):
    """Mahendran and Vedaldi's feature inversion: from noise, the image whose
    activation at `layer` matches `image`'s (minimising J_content + tv_weight
    TV^beta, the prior that keeps it natural). The other arguments are
    style_transfer's. Returns Synthesis(image, history).
    """
    backbone, _ = _backbone(model, weights)
    weights_by_layer = _layer_weights(layer, "layer")
    extractor = _extractor(backbone, list(weights_by_layer))
    image = _as_input(image, extractor, "image")
    target = extractor(image, training=False)
    objective = _Objective(extractor, content={name: (target[name], w) for name, w in weights_by_layer.items()},
                           beta=0.0, tv_weight=tv_weight, tv_form=tv_form, tv_beta=tv_beta, normalize=normalize)
    return _optimize(objective, _noise(image.shape, seed), steps=steps, optimizer=optimizer,
                     learning_rate=learning_rate, callback=callback)


def _resize(image, size):
    return tf.image.resize(image, size, method="bilinear")


def deep_dream(image, layers=None, *, model="vgg19", weights=None, octaves=4, octave_scale=1.4, steps=10,
               step_size=1.5, jitter=32, seed=0, callback=None):
    """DeepDream (Mordvintsev et al. 2015): gradient ascent on the pixels to
    amplify what `layers` see, as Google's notebook does it.

    The objective is sum_l weight_l * mean(a_l^2) (layers: a name, names or
    {name: weight}; None: the model's default content layer). Each step rolls
    the image by a random shift of up to `jitter` pixels, takes the gradient,
    divides it by its mean absolute value (so `step_size` is the mean change
    of a pixel per step), and clips to [0, 255]. Octaves: the ascent runs first
    on the image shrunk by octave_scale^(octaves - 1), then on ever larger
    ones; at each octave the image is the original at that size plus the
    detail dreamt so far, upscaled, so with step_size=0 the result is the input.
    Returns Synthesis(image, history): "loss" (the objective before each step,
    and at the end) and "octave" (which octave each entry belongs to).
    """
    _check_number("octaves", octaves, 1, integer=True)
    _check_number("octave_scale", octave_scale, 1)
    _check_number("steps", steps, 1, integer=True)
    _check_number("step_size", step_size, 0)
    _check_number("jitter", jitter, 0, integer=True)
    backbone, maps = _backbone(model, weights)
    layer_weights = _layer_weights(layers or _default_layers(backbone, maps)[0], "layers")
    extractor = _extractor(backbone, list(layer_weights))
    original = tf.constant(_as_input(image, extractor, "image"))

    @tf.function
    def loss_and_grad(x, shift):
        with tf.GradientTape() as tape:
            tape.watch(x)
            # Rolled inside the tape, so the gradient is already unrolled.
            features = extractor(tf.roll(x, shift, axis=(1, 2)), training=False)
            loss = tf.add_n([weight * tf.reduce_mean(tf.square(features[layer]))
                             for layer, weight in layer_weights.items()])
        return loss, tape.gradient(loss, x)

    height, width = original.shape[1:3]
    sizes = [(max(1, round(height / octave_scale ** i)), max(1, round(width / octave_scale ** i)))
             for i in reversed(range(octaves))]
    _check_size(extractor, (1, *sizes[0], original.shape[-1]), "The first octave (fewer octaves or a "
                "smaller octave_scale make it larger)")
    rng, history = np.random.default_rng(seed), {"loss": [], "octave": []}

    def record(loss, octave):
        history["loss"].append(float(loss))
        history["octave"].append(octave)
        if callback is not None:
            callback(len(history["loss"]) - 1, {"loss": float(loss), "octave": octave})

    detail = tf.zeros((1, *sizes[0], original.shape[-1]))
    for octave, size in enumerate(sizes):
        base = _resize(original, size)
        x = base + _resize(detail, size)
        for _ in range(steps):
            shift = rng.integers(-jitter, jitter + 1, size=2)
            loss, grad = loss_and_grad(x, tf.constant(shift, tf.int32))
            record(loss, octave)
            # No epsilon: a random network's gradients can be ~1e-12 per pixel.
            step = tf.math.divide_no_nan(grad, tf.reduce_mean(tf.abs(grad)))
            x = tf.clip_by_value(x + step_size * step, 0.0, 255.0)
        detail = x - base
    record(loss_and_grad(x, tf.zeros(2, tf.int32))[0], octaves - 1)
    return Synthesis(x.numpy()[0], {name: np.asarray(values) for name, values in history.items()})


def _classifier(model, weights, size):
    """A model with a (batch, classes) output: a zoo model name built with its
    top (at `size`, or its default input), a .keras file or a keras.Model."""
    given = _given_model(model, weights)
    if given is None:
        entry = get_entry(model)
        shape = entry.input_shape if size is None else (*_pair(size), entry.input_shape[-1])
        given = build(model, weights=weights, input_shape=shape)
    if len(given.outputs) != 1 or len(given.outputs[0].shape) != 2:
        raise ValueError(f"class_visualization needs a classifier with one (batch, classes) output; "
                         f"{given.name} outputs {', '.join(str(tuple(o.shape)) for o in given.outputs)}.")
    return given


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def class_visualization(model, class_index, *, weights=None, size=None, init=None, steps=100, step_size=4.0,
                        l2_reg=1e-3, jitter=16, blur_every=10, blur_sigma=0.5, seed=0, callback=None):
    """The image a classifier scores highest for `class_index`: Simonyan et
    al.'s gradient ascent on the class score s_y (the model's output, logits
    for zoo models, never the softmax, which can rise by lowering the other
    classes) with Yosinski et al.'s regularisers, as CS231n's assignment does it.

    Each step maximises s_y(x) - l2_reg * ||u||^2, u = x / 127.5 - 1 (the
    pixels in [-1, 1], so the L2 term pulls towards mid-grey): the image is
    rolled by a random shift of up to `jitter` pixels (inside the gradient, so
    the gradient is unrolled), the gradient with respect to u is divided by
    its root mean square (so `step_size` is the RMS change of a pixel per step,
    whatever the image size: CS231n's learning rate of 25 on a 224 px image in
    its normalised units is about 4 pixels), added, and the pixels clipped to
    [0, 255]; every `blur_every` steps (from the first; 0: never) the image is
    blurred by a Gaussian of `blur_sigma` pixels, which removes the high
    frequencies the score alone would grow.

    model: a zoo model name (built with its top at `size`, default its own
    input size, with `weights`: None, "imagenet" or a file path), a .keras
    file or a keras.Model that takes 0-255 pixels and has one (batch, classes)
    output. init: the start image (0-255, the model's input size); None:
    seeded mid-grey noise. jitter is CS231n's 16 for 224 px: scale it with the
    image. callback(step, costs) is called with {"score", "loss"} before each
    step and at the end. Returns Synthesis(image, history) with "score" (s_y)
    and "loss" (the objective) per step.
    """
    _check_number("steps", steps, 1, integer=True)
    _check_number("step_size", step_size, 0)
    _check_number("l2_reg", l2_reg, 0)
    _check_number("jitter", jitter, 0, integer=True)
    _check_number("blur_every", blur_every, 0, integer=True)
    _check_number("blur_sigma", blur_sigma, 0)
    classifier = _classifier(model, weights, size)
    classes = classifier.outputs[0].shape[-1]
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < classes:
        raise ValueError(f"class_index must be an int in [0, {classes}) for {classifier.name}; got {class_index!r}.")
    shape = tuple(classifier.inputs[0].shape[1:])
    if None in shape[:2] and init is None:
        if size is None:
            raise ValueError(f"{classifier.name} takes images of any size: pass size.")
        shape = (*_pair(size), shape[-1])
    if init is None:
        x = tf.constant(_noise((1, *shape), seed))
    else:
        x = tf.constant(_pixels(init, shape[-1], "init"))
        if None not in shape[:2] and tuple(x.shape[1:3]) != shape[:2]:
            raise ValueError(f"init must be {shape[0]}x{shape[1]} pixels, {classifier.name}'s input; "
                             f"got {x.shape[1]}x{x.shape[2]}.")

    @tf.function
    def objective_and_grad(x, shift):
        u = x / 127.5 - 1.0
        with tf.GradientTape() as tape:
            tape.watch(u)
            score = classifier(tf.roll((u + 1.0) * 127.5, shift, axis=(1, 2)), training=False)[0, class_index]
            loss = score - l2_reg * tf.reduce_sum(tf.square(u))
        return score, loss, tape.gradient(loss, u)

    rng, history = np.random.default_rng(seed), {"score": [], "loss": []}

    def record(score, loss):
        history["score"].append(float(score))
        history["loss"].append(float(loss))
        if callback is not None:
            callback(len(history["loss"]) - 1, {"score": float(score), "loss": float(loss)})

    for step in range(steps):
        shift = rng.integers(-jitter, jitter + 1, size=2)
        score, loss, grad = objective_and_grad(x, tf.constant(shift, tf.int32))
        record(score, loss)
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad)))
        x = tf.clip_by_value(x + step_size * tf.math.divide_no_nan(grad, rms), 0.0, 255.0)
        if blur_every and step % blur_every == 0 and blur_sigma > 0:
            x = tf.constant(scipy.ndimage.gaussian_filter(x.numpy(), sigma=(0, blur_sigma, blur_sigma, 0)))
    record(*objective_and_grad(x, tf.zeros(2, tf.int32))[:2])
    return Synthesis(x.numpy()[0], {name: np.asarray(values) for name, values in history.items()})
