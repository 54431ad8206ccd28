"""zoo: classic convolutional networks for Keras 3, built by name.

    import zoo
    model = zoo.build("resnet50", num_classes=10)
    zoo.list_models("resnet*")
    zoo.get_entry("resnet50").input_shape
    zoo.model_info("resnet50")["params"]
    zoo.explain.grad_cam(model, image, class_index)
"""

# Importing a family registers its models; explain draws what a model learned.
from zoo import alexnet, efficientnet, explain, inception, lenet, mobilenet, resnet, unet, vgg  # noqa: E402,F401
from zoo.inference import inference_model
from zoo.registry import ModelEntry, build, get_entry, list_models, model_info, register_model

__version__ = "0.1.0"
__all__ = ["ModelEntry", "build", "explain", "get_entry", "inference_model", "list_models", "model_info",
           "register_model", "__version__"]
