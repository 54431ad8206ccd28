"""Style: fast style transfer (Johnson et al., 2016). A feed-forward network
(zoo's `style_net`) learns one style: trained on content photos, it maps each to
itself in the style of --style_image, judged by a fixed loss network's features.

The perceptual loss per image G = style_net(C), with zoo.synthesis's costs on a
frozen zoo VGG16 (zoo.synthesis.feature_extractor):

    loss = J_content / J_content(C, 0) + style_weight * sum_l J_style_l / (L J_style_l(S, 0))
           + tv_weight * TV(G / 255) / (height * width)

J_content is the course's 1/2 ||a(C) - a(G)||^2 at --content_layer, J_style_l its Gram
cost at each of the L --style_layers against the style image S, TV the squared
(beta = 2) total variation. Each cost is divided by its target's own norm (the cost of
a blank image), as zoo.synthesis does by default and for the same reason: raw, the
layers' costs differ by orders of magnitude and the deep ones would not move; so
normalised, each term starts near 1 and the weights are relative. Johnson et al.'s
layers are the defaults: content relu2_2, style relu1_2, relu2_2, relu3_3, relu4_3
(the zoo names the activations block2_conv2_relu, ...).

The targets of a batch are its own images (the content); evaluation reports the
mean content and style costs per image (the terms above, before their weights).
Lower loss is better: it picks the best epoch.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

import zoo
from training.errors import DataError, HarnessError
from training.tasks import Task
from zoo import synthesis

LOSS_NETWORK = "vgg16"
CONTENT_LAYER = "block2_conv2_relu"  # Johnson et al.'s relu2_2
STYLE_LAYERS = ("block1_conv2_relu", "block2_conv2_relu", "block3_conv3_relu",
                "block4_conv3_relu")  # relu1_2, relu2_2, relu3_3, relu4_3
TV_FORM = "beta"  # squared differences (beta = 2): smooth, as Johnson et al.'s
PIXELS = 255.0  # the loss network and the style net both work on 0-255 pixels


def imagenet_file_cached():
    """Whether keras' cache holds the loss network's ImageNet weights (no download)."""
    file_name = zoo.get_entry(LOSS_NETWORK).published_weights.notop[0]
    cache = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.isfile(os.path.join(cache, "models", file_name))


class PerceptualLoss:
    """Johnson et al.'s loss for one style image (0-255 pixels, height x width x 3)."""

    def __init__(self, style_image, *, content_layer, style_layers, style_weight, tv_weight,
                 weights):
        # The loss network stays float32 under a mixed policy: Gram matrices are fourth
        # powers of activations, out of float16's range.
        policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("float32")
        try:
            self.extractor = synthesis.feature_extractor(
                LOSS_NETWORK, list(dict.fromkeys((content_layer, *style_layers))), weights=weights)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        self.style_weight, self.tv_weight = float(style_weight), float(tv_weight)
        features = self.extractor(style_image[None], training=False)
        self.style_targets = {layer: tf.constant(features[layer]) for layer in style_layers}
        self.style_norms = {}
        for layer, a_S in self.style_targets.items():  # J_style_l(S, 0): its own Gram norm
            norm = float(synthesis.style_cost(a_S, tf.zeros_like(a_S[:, :1, :1])))
            if not norm > 0:
                raise HarnessError(f"--style_layers: {layer} of {LOSS_NETWORK} is all zeros on "
                                   "the style image, so its cost cannot be normalised; choose "
                                   "another layer.")
            self.style_norms[layer] = norm * len(self.style_targets)
        self._last = (None, None, None)

    def _per_image(self, example):
        """The three costs of one image: its content features a_C, the output's a_G,
        the output's {style layer: activation} and the output's pixels."""
        a_C, a_G, style, pixels = example
        content = synthesis.content_cost(a_C, a_G) / tf.maximum(
            synthesis.content_cost(a_C, tf.zeros_like(a_C)), 1e-12)
        style = tf.add_n([synthesis.style_cost(self.style_targets[layer], a_G_l)
                          / self.style_norms[layer] for layer, a_G_l in style.items()])
        positions = tf.cast(tf.shape(pixels)[0] * tf.shape(pixels)[1], tf.float32)
        tv = synthesis.total_variation(pixels / PIXELS, TV_FORM) / positions
        return {"content": content, "style": style, "tv": tv}

    def costs(self, targets, outputs):
        """{"content", "style", "tv", "loss"}: one value per image of a batch of content
        `targets` and stylised `outputs` (0-255). The metrics ask again for the costs
        the loss just computed: the last batch's are kept, not computed twice."""
        if self._last[0] is targets and self._last[1] is outputs:
            return self._last[2]
        outputs32 = tf.cast(outputs, tf.float32)
        # One pass of the loss network over content and output together.
        features = self.extractor(tf.concat([targets, outputs32], 0), training=False)
        a_C, a_G = tf.split(features[self.content_layer], 2)
        style = {layer: tf.split(features[layer], 2)[1] for layer in self.style_layers}
        # zoo.synthesis's costs are of one image (or summed over a batch): mapped per image.
        per_image = tf.vectorized_map(self._per_image,
                                      (tf.stop_gradient(a_C), a_G, style, outputs32))
        per_image["loss"] = (per_image["content"] + self.style_weight * per_image["style"]
                             + self.tv_weight * per_image["tv"])
        self._last = (targets, outputs, per_image)
        return per_image


class CostMean(keras.metrics.Mean):
    """The mean per image of one of PerceptualLoss's costs."""

    def __init__(self, loss, part, name):
        super().__init__(name=name)
        self.loss, self.part = loss, part

    def update_state(self, targets, outputs, sample_weight=None):
        return super().update_state(self.loss.costs(targets, outputs)[self.part])


@dataclasses.dataclass(frozen=True)
class Settings:
    style_image: str
    content_layer: str
    style_layers: tuple
    style_weight: float
    tv_weight: float
    perceptual_weights: str  # imagenet, none or a file


class Style(Task):
    name = "style"
    monitor = "val_loss"
    monitor_higher_is_better = False
    output_kind = "image"
    class_outputs = False
    default_dataset = "photos"
    # Johnson et al.'s Adam rate. Measured: style_net at 64 px on brick (random loss network,
    # batch 4, 2 epochs) ended at validation loss 1.11 (test style cost 0.45, content 0.63)
    # at 1e-3 and 4.05 (3.08, 0.92) at the harness's 5e-3.
    learning_rate = 1e-3
    settings = tuple(f.name for f in dataclasses.fields(Settings))

    def __init__(self, settings=None, loss=None):
        self.run_settings, self.loss = settings, loss

    def resolve_settings(self, config):
        if config.style_image is None:
            raise HarnessError(f"--model={config.model} learns one style: give --style_image, an "
                               "image file or one of scikit-image's bundled images "
                               f"({', '.join(synthesis.SAMPLES)}), e.g. --style_image=brick.")
        weights = config.perceptual_weights
        if weights == "auto":
            weights = "imagenet" if imagenet_file_cached() else "none"
            if weights == "none":
                logging.warning("--perceptual_weights=auto: no ImageNet %s weights in keras' "
                                "cache, so the loss network is random (textures still transfer; "
                                "download them once with zoo.build('%s', weights='imagenet', "
                                "include_top=False) for the familiar results).",
                                LOSS_NETWORK, LOSS_NETWORK)
        return {"content_layer": config.content_layer or CONTENT_LAYER,
                "style_layers": tuple(config.style_layers) or STYLE_LAYERS,
                "perceptual_weights": weights}

    def for_run(self, config):
        settings = Settings(**{name: getattr(config, name) for name in self.settings})
        # A random loss network (--perceptual_weights=none) must be the same one in every
        # run of this config, and after --resume: drawn from the run's seed.
        keras.utils.set_random_seed(config.seed)
        try:
            style_image = _rgb(synthesis.load_image(settings.style_image, config.image_size))
            weights = {"none": None}.get(settings.perceptual_weights, settings.perceptual_weights)
            loss = PerceptualLoss(style_image, content_layer=settings.content_layer,
                                  style_layers=settings.style_layers,
                                  style_weight=settings.style_weight,
                                  tv_weight=settings.tv_weight, weights=weights)
        except (ValueError, RuntimeError) as error:  # a bad layer name, image or weights file
            raise HarnessError(f"--model={config.model}: {error}") from None
        return Style(settings, loss)

    def targets(self, labels, num_classes):
        from training.data import to_unit

        return to_unit(labels) * PIXELS  # the batch's own images (see `_content`)

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        return self.loss.costs(targets, outputs)["loss"]

    def metrics(self, num_classes):
        return [CostMean(self.loss, "content", "content_cost"),
                CostMean(self.loss, "style", "style_cost")]

    def report(self, results):
        return {**results, "costs": "means per image, each relative to its target's own norm "
                "(training/tasks/style.py)",
                "settings": {"loss_network": LOSS_NETWORK, **dataclasses.asdict(self.run_settings)}}

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        from training import data

        if classes:
            raise DataError("--classes selects labels; a style model restyles every image.")
        if name == "photos":
            return data.photos_source()
        if name.startswith("folder:"):  # any folder of photos: a style net needs no classes
            return data.unlabelled_folder_source(name[len("folder:"):])
        return data.classification_source(name, data_dir, download)  # labels unused

    def check_dataset(self, name, *, model):
        from training.data import SEGMENTATION_ONLY

        if name in SEGMENTATION_ONLY:
            return (f"--dataset={name} is for segmentation and detection models; --model={model} "
                    "restyles photos (--dataset=photos, folder:/path, a tfds name).")
        return None

    def check_augment(self, names):
        from training.augment import BATCH_AUGMENTATIONS

        mixing = [n for n in names if n in BATCH_AUGMENTATIONS]
        if mixing:
            return (f"--augment={','.join(mixing)} would blend two photos into one; style "
                    "models accept the per-image augmentations.")
        return None

    def augment(self, augmenter, images, labels):
        images = augmenter(images, training=True)
        return images, images  # the content target moves with the image

    def train_batches(self, examples, **kwargs):
        return super().train_batches(examples.map(_content), **kwargs)

    def eval_batches(self, examples, **kwargs):
        return super().eval_batches(examples.map(_content), **kwargs)


def _rgb(pixels):
    """RGB pixels of a grey (brick is), RGB or RGBA image."""
    return np.repeat(pixels, 3, -1) if pixels.shape[-1] == 1 else pixels[..., :3]


def _content(image, label):
    """A style model's example: its target is the image itself."""
    return image, image


TASK = Style()
