"""SavedModel with a documented serving signature, checked by loading it back."""

import json
import os

import numpy as np
import tensorflow as tf

from export.errors import ParityError

INPUT_NAME = "images"
SIGNATURE = "serving_default"
# A SavedModel's assets.extra/ travels with it and is ignored by the loaders;
# TF Serving's convention for documentation files.
DOC_FILE = os.path.join("assets.extra", "serving_signature.json")
ROUND_TRIP_ATOL = 1e-5


def export_saved_model(model, path, doc):
    """Writes `model` to `path` with one signature `serving_default(images)`.

    `doc` (shape, dtype, value range, normalisation, outputs) is written beside
    the graph in assets.extra/ so that whoever serves the model can read it.
    """
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(images):
        return model(images, training=False)

    # A module holding just the signature and the variables it reads. keras'
    # `model.export` also walks every layer for lookup tables, tracing each
    # layer's functions: that walk was half of a float32 TFLite export's time
    # (efficientnet_b1: 31 s of keras export against 15 s; converting its larger
    # SavedModel took 19 s against 12 s). Zoo models hold no lookup tables.
    module = tf.Module()
    module.serve = serve
    module.variables_read = list(serve.get_concrete_function().variables)
    tf.saved_model.save(module, path, signatures={SIGNATURE: serve})
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, DOC_FILE), "w") as f:
        json.dump({"signature": SIGNATURE, "input": INPUT_NAME, **doc}, f, indent=2)


def output_keys(outputs):
    """The signature's output keys (output_0, output_1, ...) in the model's order."""
    return sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]) if k[-1].isdigit() else k)


def run_saved_model(path, images, function=None):
    """The outputs (a list, model order) of the loaded signature on `images`."""
    function = function or tf.saved_model.load(path).signatures[SIGNATURE]
    result = function(**{INPUT_NAME: tf.constant(images, tf.float32)})
    return [result[k].numpy() for k in output_keys(result)]


def check_saved_model(path, images, expected):
    """Loads the signature back and compares it with the Keras outputs."""
    function = tf.saved_model.load(path).signatures[SIGNATURE]
    args = function.structured_input_signature[1]
    if list(args) != [INPUT_NAME]:
        raise ParityError(f"SavedModel at {path} has inputs {list(args)}; expected {INPUT_NAME!r}.")
    got = run_saved_model(path, images, function)
    errors = [float(np.max(np.abs(g - e))) for g, e in zip(got, expected)]
    result = {"max_abs_error": max(errors), "atol": ROUND_TRIP_ATOL, "samples": len(images),
              "passed": len(got) == len(expected) and max(errors) <= ROUND_TRIP_ATOL}
    if not result["passed"]:
        raise ParityError(f"SavedModel round trip differs from Keras: max abs error "
                          f"{result['max_abs_error']:.3g} > {ROUND_TRIP_ATOL}.")
    return result
