"""zoo: classic convolutional networks for Keras 3, built by name.

    import zoo
    model = zoo.build("resnet50", num_classes=10)
    zoo.list_models("resnet*")
    zoo.get_entry("resnet50").input_shape
    zoo.model_info("resnet50")["params"]
    zoo.boxes.nms(boxes, scores)            # box formats, IoU, NMS, anchors, COCO/VOC AP
    embedder = zoo.build("embedding", backbone="resnet18", embedding_dim=128)
    loss = zoo.losses.TripletLoss(margin=0.2, mining="semi_hard")
    zoo.build("resnet18", input_shape=(16, 112, 112, 3))  # 1D/3D from the same builders
    zoo.inflate(model_2d, depth=16)          # I3D: 2D weights start a 3D model
    zoo.explain.grad_cam(model, image, class_index)
    detector = zoo.build("yolo", backbone="mobilenet_v2", num_classes=3)
    zoo.detection_model(detector)           # decoding and NMS inside the graph
    zoo.convolutionalize(zoo.build("lenet5"))  # sliding windows in one pass
    stylizer = zoo.build("style_net", input_shape=(None, None, 3))  # fast style transfer
"""

# Importing a family registers its models; boxes, explain, losses and synthesis are tools.
from zoo import (  # noqa: F401
    alexnet,
    boxes,
    efficientnet,
    explain,
    inception,
    lenet,
    localization,
    losses,
    mobilenet,
    resnet,
    similarity,
    style_net,
    synthesis,
    unet,
    vgg,
    yolo,
)
from zoo.inference import inference_model
from zoo.inflate import inflate
from zoo.registry import ModelEntry, build, get_entry, list_models, model_info, register_model
from zoo.sliding import convolutionalize
from zoo.yolo import detection_model

__version__ = "0.1.0"
__all__ = ["ModelEntry", "boxes", "build", "convolutionalize", "detection_model", "explain", "get_entry",
           "inference_model", "inflate", "list_models", "losses", "model_info", "register_model",
           "synthesis", "__version__"]
