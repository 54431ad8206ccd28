"""YOLO (Redmon and Farhadi, YOLO9000 / YOLOv2, 2017): a grid detector with
anchor boxes on any zoo classifier's deepest feature map.

    model = zoo.build("yolo", backbone="mobilenet_v2", num_classes=3, input_shape=(128, 128, 3),
                      anchors=zoo.boxes.anchors_from_boxes(train_boxes, 5) / 32)
    loss = zoo.losses.YoloLoss(anchors=model.get_layer("grid").anchors)
    detector = zoo.detection_model(model)   # boxes, scores, classes, count

The graph: the backbone's `features_only` deepest map (stride 32 for every
ImageNet-style classifier here; the strides come from the registry entry) built
into the same model, `head_convs` 3x3 conv-BN-LeakyReLU(0.1) layers of
`head_filters` filters (YOLOv2's detection head, lighter: its 1024-filter
convs sized for Darknet-19), YOLOv2's passthrough (the stride-16 map through a
1x1 conv of `passthrough` filters, 64 as in yolo-voc.cfg, each 2 x 2 block
stacked into channels by `zoo.layers.SpaceToDepth`, Darknet's "reorg",
concatenated with the head's map, then one more 3x3 conv: finer features for
localisation on the coarse grid; passthrough=0 leaves it out), a 1x1 conv
"predictions" with B * (5 + C) filters, and the layer "grid"
(`zoo.layers.YoloGrid`) that reshapes it.

The grid is YOLOv2's S = input / 32. `grid_stride=16` is an option that is not
YOLOv2: the grid on the backbone's stride-16 map (S = input / 16, its deeper
blocks left out, the passthrough from stride 8): on small inputs, where a
stride-32 grid has a handful of cells (4 x 4 at 128 px), it localises better
and trains faster (bench/detection.py).

Output: [batch, S_h, S_w, B, 5 + C], S = input / stride, B anchors; the last
axis of each (row, column, anchor) is, in this order,

    t_x, t_y, t_w, t_h, t_o, c_1 ... c_C      (all raw: logits)

decoded as b_xy = sigmoid(t_xy) + cell, b_wh = anchor * exp(t_wh) (grid
cells), objectness = sigmoid(t_o), class probabilities = softmax(c)
(`zoo.boxes.yolo_decode`). Targets come from `zoo.boxes.yolo_encode` and the
loss is `zoo.losses.YoloLoss`. `anchors` are [B, 2] (width, height) in grid
cells (pixels / stride); the default is YOLOv2's five VOC anchors (for 416 px
inputs, 13 x 13 grids). The grid layer keeps them and the stride in the saved
model, so `detection_model` needs nothing else.
"""

import keras
from keras import layers

from zoo import layers as zl
from zoo.layers.detection import SpaceToDepth, YoloDetections, YoloGrid, check_anchors
from zoo.registry import build, get_entry, register_model

PAPER = "Redmon and Farhadi, YOLO9000: Better, Faster, Stronger, CVPR 2017 (arXiv:1612.08242)"

# yolo-voc.cfg's anchors, (width, height) in cells of a 13 x 13 grid (416 px input).
YOLOV2_VOC_ANCHORS = ((1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892), (9.47112, 4.84053),
                      (11.2364, 10.0071))
LEAKY_SLOPE = 0.1  # Darknet's leaky ReLU
PASSTHROUGH_FILTERS = 64  # yolo-voc.cfg's 1x1 conv before the reorg


def check_backbone_head(options, backbone, output):
    """Refuses the classifier-top arguments of a head on a backbone (`output`
    says what the model returns instead) and a backbone without feature maps."""
    not_applicable = {"include_top": (options.include_top, True), "pooling": (options.pooling, None),
                      "features_only": (options.features_only, False), "out_indices": (options.out_indices, None),
                      "classifier_activation": (options.classifier_activation, None)}
    bad = [f"{k}={v!r}" for k, (v, default) in not_applicable.items() if v != default]
    if bad:
        raise ValueError(f"{options.name} returns {output}, with no classifier top to drop, pool or activate; "
                         f"got {', '.join(bad)}. Leave those arguments at their defaults.")
    if not isinstance(backbone, str) or get_entry(backbone).features is None:
        raise ValueError(f"{options.name}: backbone must be the name of a zoo classification model with "
                         f"feature maps (e.g. 'mobilenet_v2', 'resnet50'); got {backbone!r}.")


def backbone_map(options, backbone, backbone_weights, *, tiled=False, finer=False, stride=None):
    """(inputs, map, its stride): the backbone's `features_only` map of `stride`
    (None: its deepest), in the same graph, with the backbone's own input
    preprocessing. `tiled`: the map's cells must tile the input exactly (a YOLO
    grid). `finer`: the map is a pair (the map of half that stride, the map)."""
    strides = [s for s, _ in get_entry(backbone).features]
    stride = strides[-1] if stride is None else stride
    if stride not in strides:
        raise ValueError(f"{options.name}: grid_stride must be one of backbone {backbone!r}'s feature strides "
                         f"{strides} (None: {strides[-1]}); got {stride!r}.")
    index = strides.index(stride)
    if tiled and options.fixed_size and any(d % stride for d in options.input_shape[:2]):
        height, width, _ = options.input_shape
        raise ValueError(f"{options.name} with backbone {backbone!r} (stride {stride}) needs input height and "
                         f"width that are multiples of {stride}; got {height}x{width}; e.g. "
                         f"{-(-height // stride) * stride}x{-(-width // stride) * stride}.")
    if finer and (index == 0 or strides[index - 1] * 2 != stride):
        raise ValueError(f"{options.name}: passthrough needs a backbone feature map of stride {stride // 2} "
                         f"beside the grid's {stride}; {backbone!r} has strides {strides}.")
    features = build(backbone, input_shape=options.input_shape, input_tensor=options.input_tensor,
                     include_top=False, features_only=True, out_indices=(index - 1, index) if finer else (index,),
                     weights=backbone_weights, include_preprocessing=options.include_preprocessing)
    x = features.outputs[-1]
    if tiled and options.fixed_size and tuple(x.shape[1:3]) != tuple(d // stride for d in options.input_shape[:2]):
        raise ValueError(f"{options.name}: backbone {backbone!r}'s deepest map is {tuple(x.shape[1:3])}, not "
                         f"its input divided by its stride {stride} (it pads 'valid'), so grid cells would "
                         "not tile the image; choose a backbone with 'same' padding, e.g. 'mobilenet_v2'.")
    return features.inputs[0], (tuple(features.outputs) if finer else x), stride


def _leaky_conv(x, filters, kernel_size, name):
    x = zl.conv_bn_act(x, filters, kernel_size, activation=None, name=name)
    return layers.LeakyReLU(LEAKY_SLOPE, name=f"{name}_leaky")(x)


def _check_head_size(options, head_convs, head_filters):
    if isinstance(head_convs, bool) or not isinstance(head_convs, int) or head_convs < 0:
        raise ValueError(f"{options.name}: head_convs must be an int >= 0; got {head_convs!r}.")
    if isinstance(head_filters, bool) or not isinstance(head_filters, int) or head_filters < 1:
        raise ValueError(f"{options.name}: head_filters must be a positive int; got {head_filters!r}.")


def _build_yolo(options, *, backbone="mobilenet_v2", anchors=YOLOV2_VOC_ANCHORS, backbone_weights=None,
                head_convs=2, head_filters=256, passthrough=PASSTHROUGH_FILTERS, grid_stride=None):
    """`backbone`: a zoo classifier; `backbone_weights`: its weights (None,
    "imagenet" or a path); `anchors` [B, 2] in grid cells; `head_convs` 3x3
    convs of `head_filters` before the 1x1 predictions; `passthrough`: the
    filters of YOLOv2's passthrough (0: none); `grid_stride`: None for
    YOLOv2's grid on the backbone's deepest map (stride 32), or a shallower
    feature map's stride for a finer grid (not YOLOv2's: e.g. 16, input / 16
    cells, the backbone's deeper blocks left out). `dropout` (default none)
    goes before the predictions."""
    check_backbone_head(options, backbone, "the raw YOLO grid (decode it with zoo.detection_model)")
    _check_head_size(options, head_convs, head_filters)
    if isinstance(passthrough, bool) or not isinstance(passthrough, int) or passthrough < 0:
        raise ValueError(f"{options.name}: passthrough must be an int >= 0 (its filters; 0: none); "
                         f"got {passthrough!r}.")
    anchors = check_anchors(anchors, f"{options.name}: anchors")
    inputs, maps, stride = backbone_map(options, backbone, backbone_weights, tiled=True, finer=bool(passthrough),
                                        stride=grid_stride)
    fine, x = maps if passthrough else (None, maps)
    for index in range(1, head_convs + 1):
        x = _leaky_conv(x, head_filters, 3, f"head{index}")
    if passthrough:
        # YOLOv2's passthrough: the stride s/2 map, 1x1 conv, each 2x2 block into channels
        # ("reorg"), beside the head's map, then one more 3x3 conv over both.
        fine = _leaky_conv(fine, passthrough, 1, "passthrough")
        fine = SpaceToDepth(2, name="passthrough_reorg")(fine)
        x = layers.Concatenate(name="passthrough_concat")([fine, x])
        x = _leaky_conv(x, head_filters, 3, f"head{head_convs + 1}")
    if options.dropout_or(0.0):
        x = layers.Dropout(options.dropout, name="head_dropout")(x)

    def head(x):
        x = layers.Conv2D(len(anchors) * (5 + options.num_classes), 1, name="predictions",
                          dtype=zl.LOGITS_DTYPE)(x)
        return YoloGrid(anchors, options.num_classes, stride, name="grid", dtype=zl.LOGITS_DTYPE)(x)

    return options.finish(inputs, x, head=head)


# The harness's default augmentation: a horizontal flip and a shift of up to 1/8 of the
# side, both moving the boxes with the pixels (a box shifted out of the image is dropped).
register_model("yolo", _build_yolo, paper=PAPER, input_shape=(416, 416, 3), num_classes=20, min_size=32,
               task="detection", augment=("flip", "crop"))


def grid_layer(model):
    """The `zoo.layers.YoloGrid` layer whose output is `model`'s one output (its anchors and
    stride), or a ValueError for a model that is not a YOLO grid detector."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"detection_model takes a keras.Model; got {type(model).__name__}.")
    output = model.outputs[0]
    layer = output._keras_history.operation
    if len(model.outputs) != 1 or not isinstance(layer, YoloGrid):
        raise ValueError(f"detection_model takes a YOLO model, whose one output comes from a "
                         f"zoo.layers.YoloGrid layer (zoo.build('yolo', ...)); {model.name}'s outputs come from "
                         f"{[type(o._keras_history.operation).__name__ for o in model.outputs]}.")
    return layer


def detection_model(model, score_threshold=0.25, iou_threshold=0.45, max_detections=100):
    """The inference model of a YOLO `model`: the same layers and weights, plus
    decoding and per-class non-max suppression inside the graph
    (`zoo.layers.YoloDetections`). It takes the same 0-255 images and returns
    [boxes [batch, max_detections, 4] (x_min, y_min, x_max, y_max pixels),
    scores [batch, max_detections], classes [batch, max_detections] (int32, -1
    past the count), count [batch] (int32)], best first. It saves to `.keras`
    and converts to TFLite with builtin ops only.

    Defaults: Darknet's detector thresholds (score 0.25, IoU 0.45). The
    course's rule (drop scores <= 0.6, suppress at IoU >= 0.5) is close to
    score_threshold=0.6, iou_threshold=0.5 (suppression here is at IoU > the
    threshold, as in tf.image); for COCO-style evaluation use a low score
    threshold, e.g. 0.001.
    """
    grid = grid_layer(model)
    detections = YoloDetections(grid.anchors, grid.stride, score_threshold=score_threshold,
                                iou_threshold=iou_threshold, max_detections=max_detections,
                                name="detections")(model.outputs[0])
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, list(detections), name=f"{model.name}_detections")
