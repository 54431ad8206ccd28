"""Transfer learning: pretrained weights into a new model, head replaced and freezable.

The backbone is what `zoo.build(name, include_top=False)` builds (layers are
matched by their stable names); the head is every other layer with weights,
and keeps its fresh initialization for the new classes.
"""

import keras
from absl import logging

import zoo


def backbone_names(name, input_shape, model_args=None):
    """Names of the backbone's layers, or None when the model has no include_top=False form."""
    try:
        backbone = zoo.build(name, **(model_args or {}), input_shape=input_shape, include_top=False)
    except (TypeError, ValueError):
        return None
    names = {layer.name for layer in backbone.layers}
    return names


def head_layers(model, backbone):
    """The layers with weights outside `backbone` (or the last such layer if unknown)."""
    weighted = [layer for layer in model.layers if layer.weights]
    if backbone is None:
        return weighted[-1:]
    return [layer for layer in weighted if layer.name not in backbone]


def load_pretrained(model, source, *, name, head, model_args=None):
    """Loads `source` ("imagenet", a .keras or a weights file) into all but `head`."""
    fresh = {layer.name: layer.get_weights() for layer in head}
    if source == "imagenet":
        shape = model.inputs[0].shape[1:]
        donor = zoo.build(name, **(model_args or {}), input_shape=tuple(shape), include_top=False,
                          weights="imagenet")
        _copy_by_name(donor, model, skip=fresh)
    elif str(source).endswith(".keras"):
        _copy_by_name(keras.saving.load_model(source, compile=False), model, skip=fresh)
    else:
        model.load_weights(source, skip_mismatch=True)
    for layer in head:  # a new head for the new classes, whatever the file held
        layer.set_weights(fresh[layer.name])
    logging.info("Loaded pretrained weights from %s; new head: %s", source,
                 ", ".join(layer.name for layer in head))


def _copy_by_name(donor, model, skip):
    donors = {layer.name: layer for layer in donor.layers}
    copied, mismatched = 0, []
    for layer in model.layers:
        if not layer.weights or layer.name in skip or layer.name not in donors:
            continue
        weights = donors[layer.name].get_weights()
        if [w.shape for w in weights] != [tuple(v.shape) for v in layer.weights]:
            mismatched.append(layer.name)
            continue
        layer.set_weights(weights)
        copied += 1
    if not copied:
        raise ValueError(f"No pretrained weights matched {model.name}'s layers "
                         "(by name and shape).")
    if mismatched:
        logging.warning("Pretrained weights of other shapes left untouched: %s", mismatched)
    logging.info("Copied pretrained weights into %d layers.", copied)


def set_trainable(model, head, *, backbone):
    """backbone=False: only `head` trains; True: all train but backbone BatchNorm.

    A frozen BatchNormalization runs in inference mode in Keras 3, so the
    pretrained statistics are kept both while the head trains and while fine-tuning.
    """
    head = {layer.name for layer in head}
    for layer in model.layers:
        if layer.name in head:
            layer.trainable = True
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        else:
            layer.trainable = backbone
