"""See what a network learned: pictures of any zoo (or functional Keras) model.

    from zoo import explain
    field = explain.receptive_field(model, "block5_conv3")   # size, stride, offset
    cam = explain.grad_cam(model, image, class_index)          # (h, w)
    explain.save_png("cam.png", explain.overlay(image, cam))
    explain.explain_model(model, images, "out/", what=("filters", "gradcam"))  # zoo-explain's PNGs

Functions return arrays (maps, or uint8 RGB pictures); `save_png` writes them.
Images are in the model's input range: 0-255 pixels for zoo models.
"""

from zoo.explain.attribution import (
    GUIDED,
    grad_cam,
    guided_backprop,
    last_feature_map,
    occlusion,
    saliency,
)
from zoo.explain.parts import PARTS, explain_model
from zoo.explain.pictures import colorize, grid, normalise, overlay, save_png, to_uint8
from zoo.explain.receptive_field import ReceptiveField, receptive_field
from zoo.explain.units import (
    Embedding,
    Neighbours,
    TopPatches,
    activations,
    embedding_map,
    filters,
    first_convolution,
    nearest_neighbours,
    top_patches,
)

__all__ = ["GUIDED", "PARTS", "Embedding", "Neighbours", "ReceptiveField", "TopPatches",
           "activations", "colorize", "embedding_map", "explain_model", "filters",
           "first_convolution", "grad_cam", "grid", "guided_backprop",
           "last_feature_map", "nearest_neighbours", "normalise", "occlusion", "overlay",
           "receptive_field", "saliency", "save_png", "to_uint8", "top_patches"]
