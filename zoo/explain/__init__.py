"""See what a network learned: pictures of any zoo (or functional Keras) model.

    from zoo import explain
    field = explain.receptive_field(model, "block5_conv3")   # size, stride, offset
    cam = explain.grad_cam(model, image, class_index)          # (h, w)
    explain.save_png("cam.png", explain.overlay(image, cam))

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
from zoo.explain.pictures import colorize, grid, normalise, overlay, save_png, to_uint8
from zoo.explain.receptive_field import ReceptiveField, receptive_field
from zoo.explain.units import (
    Embedding,
    Neighbours,
    TopPatches,
    activations,
    embedding_map,
    filters,
    nearest_neighbours,
    top_patches,
)

__all__ = ["GUIDED", "Embedding", "Neighbours", "ReceptiveField", "TopPatches", "activations",
           "colorize", "embedding_map", "filters", "grad_cam", "grid", "guided_backprop",
           "last_feature_map", "nearest_neighbours", "normalise", "occlusion", "overlay",
           "receptive_field", "saliency", "save_png", "to_uint8", "top_patches"]
