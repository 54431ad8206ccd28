"""The inference model of a trained model: what checkpoints keep, export ships
and GoogLeNet's `strip_aux` returns."""

import keras


def is_side_branch(tensor):
    """An output that serves training only: a layer named aux* (GoogLeNet's aux1, aux2)."""
    return tensor._keras_history.operation.name.startswith("aux")


def inference_model(model):
    """`model` without its side branches, as a new functional model that shares
    its layers and weights but not its optimizer (saved checkpoints stay small).

    Raises ValueError when every output is a side branch.
    """
    kept = [output for output in model.outputs if not is_side_branch(output)]
    if not kept:
        raise ValueError(f"{model.name}: every output is a side branch (a layer named aux*).")
    # One input as a tensor, not a list of one: Keras warns when called with a bare tensor.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, kept[0] if len(kept) == 1 else kept, name=model.name)
