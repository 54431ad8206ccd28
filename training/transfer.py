"""Transfer learning: pretrained weights into a new model, head replaced and freezable.

The head is the layers the registry entry names (`zoo.get_entry(name).head_layers`):
they keep their fresh initialization for the new classes. The backbone is every
other layer with weights, matched to the donor's by stable names.

`read_pretrained` runs before any expensive work (the precision probe,
building the model), so an unreachable or unreadable source fails first;
`apply_pretrained` loads what matches and says how much that was.
"""

import os
import tempfile

import h5py
import keras
import numpy as np
from absl import logging

import zoo
from training.errors import WeightsError


def head_layers(model, name):
    """The layers with weights that the classifier top of model `name` adds (its
    registry entry's `head_layers`, side branches included): what a new task
    re-initialises and what `--freeze_backbone` leaves trainable."""
    names = set(zoo.get_entry(name).head_layers)
    return [layer for layer in model.layers if layer.weights and layer.name in names]


def read_pretrained(source, *, name, input_shape, model_args=None):
    """The donor `source` names: a keras.Model ("imagenet": the zoo model without
    its top, with the published weights; a `.keras` file) or the path of a
    `.weights.h5` file. Raises WeightsError when it cannot be had."""
    if source == "imagenet":
        try:
            return zoo.build(name, **(model_args or {}), input_shape=tuple(input_shape),
                             include_top=False, weights="imagenet")
        except (RuntimeError, ValueError) as error:  # offline, or no published weights
            raise WeightsError(f"--pretrained=imagenet: {error}") from error
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise WeightsError(f"--pretrained={path!r} is not a file; pass imagenet, a .keras or a "
                           ".weights.h5 file of an earlier run.")
    if path.endswith(".keras"):
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as error:  # keras raises many types for a damaged archive
            raise WeightsError(f"--pretrained={path!r} could not be loaded as a Keras model: "
                               f"{type(error).__name__}: {error}") from error
    if not h5py.is_hdf5(path):
        raise WeightsError(f"--pretrained={path!r} is neither a .keras archive nor an HDF5 "
                           "weights file (.weights.h5).")
    return path


def apply_pretrained(model, donor, *, head, source=None):
    """Loads the donor's tensors that fit `model` into all but `head`, which keeps
    its fresh weights for the new classes. Returns {"loaded", "skipped",
    "backbone_tensors"}; raises WeightsError when nothing of the backbone matched."""
    source = source or (donor if isinstance(donor, str) else donor.name)
    head_names = {layer.name for layer in head}
    fresh = {layer.name: layer.get_weights() for layer in head}
    found = (_tensors_by_name(model, donor) if isinstance(donor, keras.Model)
             else _tensors_from_file(model, donor))
    backbone = [(i, v) for i, v in enumerate(model.weights)
                if _owner(model, v) not in head_names]
    loaded, skipped = 0, []
    for i, variable in backbone:
        tensor = found.get(i)
        if tensor is not None and tuple(tensor.shape) == tuple(variable.shape):
            variable.assign(tensor)
            loaded += 1
        else:
            skipped.append(variable.path)
    for layer in head:
        layer.set_weights(fresh[layer.name])
    if not loaded:
        raise WeightsError(f"--pretrained={source}: none of {model.name}'s {len(backbone)} "
                           "backbone tensors matched it (by layer and shape): it holds the "
                           "weights of another architecture.")
    logging.info("Pretrained weights from %s: loaded %d of %d backbone tensors%s; new head: %s",
                 source, loaded, len(backbone),
                 f", skipped {len(skipped)} that did not match (e.g. {skipped[:3]})"
                 if skipped else "", ", ".join(sorted(head_names)) or "none")
    return {"loaded": loaded, "skipped": len(skipped), "backbone_tensors": len(backbone)}


def load_pretrained(model, source, *, name, head, model_args=None):
    """read_pretrained then apply_pretrained."""
    donor = read_pretrained(source, name=name, input_shape=model.inputs[0].shape[1:],
                            model_args=model_args)
    return apply_pretrained(model, donor, head=head, source=source)


def _owner(model, variable):
    """The name of the top-level layer that holds `variable`."""
    return variable.path.split("/")[0]


def _tensors_by_name(model, donor):
    """Variable index in `model` -> the donor's tensor of the same layer name and position."""
    donors = {layer.name: layer for layer in donor.layers}
    found = {}
    index = {id(v): i for i, v in enumerate(model.weights)}
    for layer in model.layers:
        if layer.name in donors:
            theirs = donors[layer.name].weights
            for position, variable in enumerate(layer.weights):
                if position < len(theirs) and id(variable) in index:
                    found[index[id(variable)]] = theirs[position].numpy()
    return found


def _tensors_from_file(model, path):
    """Variable index in `model` -> the tensor a Keras `.weights.h5` file holds for it.

    Keras keys such a file by position (`layers/conv2d_8/vars/0` is the ninth
    Conv2D's kernel), not by layer name. Saving the model itself with each
    variable filled with its own index shows which key is which variable.
    """
    originals = [v.numpy() for v in model.weights]
    try:
        for i, variable in enumerate(model.weights):
            variable.assign(np.full(variable.shape, i, variable.dtype))
        with tempfile.TemporaryDirectory() as tmp:
            marked = os.path.join(tmp, "marked.weights.h5")
            model.save_weights(marked)
            keys = _datasets(marked)
    finally:
        for variable, value in zip(model.weights, originals):
            variable.assign(value)
    theirs = _datasets(path)
    return {int(np.asarray(marker).flat[0]): theirs[key]
            for key, marker in keys.items() if key in theirs and np.asarray(marker).size}


def _datasets(path):
    """Every array in an HDF5 file, by its key."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda key, item: arrays.__setitem__(key, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


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
