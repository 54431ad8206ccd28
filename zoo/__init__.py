"""zoo: classic convolutional networks for Keras 3, built by name.

    import zoo
    model = zoo.build("resnet50", num_classes=10)
    zoo.list_models("resnet*")
    zoo.get_entry("resnet50").input_shape
    zoo.model_info("resnet50")["params"]
    zoo.boxes.nms(boxes, scores)            # box formats, IoU, NMS, anchors, COCO/VOC AP
    zoo.build("resnet18", input_shape=(16, 112, 112, 3))  # 1D/3D from the same builders
    zoo.inflate(model_2d, depth=16)          # I3D: 2D weights start a 3D model
"""

# Importing a family registers its models; boxes is `zoo.boxes`.
from zoo import alexnet, boxes, efficientnet, inception, lenet, mobilenet, resnet, unet, vgg  # noqa: E402,F401
from zoo.inference import inference_model
from zoo.inflate import inflate
from zoo.registry import ModelEntry, build, get_entry, list_models, model_info, register_model

__version__ = "0.1.0"
__all__ = ["ModelEntry", "boxes", "build", "get_entry", "inference_model", "inflate", "list_models",
           "model_info",
           "register_model", "__version__"]
