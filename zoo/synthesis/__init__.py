"""Image synthesis on any zoo model's features: the course's costs, style
transfer, texture synthesis, feature inversion, DeepDream and class
visualisation (`zoo.synthesis.optimize`), and the `zoo-synthesize` command
line (`zoo.synthesis.cli`).

    from zoo import synthesis
    content, style = synthesis.load_image("chelsea", 128), synthesis.load_image("brick", 128)
    image, history = synthesis.style_transfer(content, style, weights="imagenet")
"""

from zoo.synthesis.optimize import (
    INITS,
    OPTIMIZERS,
    SAMPLES,
    TV_FORMS,
    VGG_CONTENT_LAYER,
    VGG_STYLE_LAYERS,
    Synthesis,
    class_visualization,
    content_cost,
    deep_dream,
    feature_extractor,
    gram_matrix,
    invert,
    load_image,
    style_cost,
    style_transfer,
    texture,
    total_variation,
)

__all__ = ["INITS", "OPTIMIZERS", "SAMPLES", "TV_FORMS", "VGG_CONTENT_LAYER", "VGG_STYLE_LAYERS", "Synthesis",
           "class_visualization", "content_cost", "deep_dream", "feature_extractor", "gram_matrix", "invert",
           "load_image", "style_cost", "style_transfer", "texture", "total_variation"]
