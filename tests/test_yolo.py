"""YOLO: the model on a zoo backbone, YOLOv2's loss on hand-made grids, the
in-graph decoding and NMS against zoo.boxes, TFLite with builtin ops only,
and a short overfit run on synthetic boxes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import photos

import zoo
from zoo import boxes
from zoo.losses import YoloLoss

ANCHORS = np.array([[1.0, 1.0], [2.0, 0.5]], "float32")  # grid cells
BIG = 30.0  # a logit whose sigmoid is 1 (or 0 negated) to float32 precision


def logit(p):
    return np.log(p / (1 - p))


# --- the model ----------------------------------------------------------------

@pytest.mark.parametrize("backbone, stride", [("mobilenet_v2", 32), ("resnet18", 32)])
def test_output_grid_layout_and_names(backbone, stride):
    model = zoo.build("yolo", backbone=backbone, num_classes=3, input_shape=(64, 96, 3), anchors=ANCHORS,
                      head_filters=8)
    assert tuple(model.output.shape) == (None, 64 // stride, 96 // stride, 2, 5 + 3)
    grid = model.get_layer("grid")
    assert isinstance(grid, zoo.layers.YoloGrid) and grid.stride == stride
    np.testing.assert_array_equal(grid.anchors, ANCHORS)
    assert model.get_layer("predictions").filters == 2 * (5 + 3)
    assert sorted(layer.name for layer in model.layers if layer.name.startswith(("head", "passthrough"))) == \
        sorted(["head1_conv", "head1_bn", "head1_leaky", "head2_conv", "head2_bn", "head2_leaky",
                "passthrough_conv", "passthrough_bn", "passthrough_leaky", "passthrough_reorg",
                "passthrough_concat", "head3_conv", "head3_bn", "head3_leaky"])
    # YOLOv2's passthrough: the stride-16 map, 1x1 conv, 2x2 blocks into channels, beside the head's map
    reorg = model.get_layer("passthrough_reorg")
    assert tuple(reorg.output.shape) == (None, 64 // stride, 96 // stride, 4 * 64)
    assert tuple(model.get_layer("passthrough_concat").output.shape) == (None, 64 // stride, 96 // stride, 4 * 64 + 8)
    # the backbone is in the same graph, under its own layer names, with its own preprocessing
    backbone_names = {layer.name for layer in zoo.build(backbone, input_shape=(64, 96, 3), include_top=False).layers}
    assert backbone_names <= {layer.name for layer in model.layers}


def test_without_passthrough_the_head_convs_follow_the_deepest_map():
    model = zoo.build("yolo", num_classes=2, input_shape=(64, 64, 3), anchors=ANCHORS, head_filters=8,
                      passthrough=0)
    assert [layer.name for layer in model.layers if layer.name.startswith(("head", "passthrough"))] == \
        ["head1_conv", "head1_bn", "head1_leaky", "head2_conv", "head2_bn", "head2_leaky"]


def test_a_finer_grid_on_a_shallower_map_on_request():
    model = zoo.build("yolo", num_classes=2, input_shape=(64, 96, 3), anchors=ANCHORS, head_filters=8,
                      grid_stride=16)
    assert tuple(model.output.shape) == (None, 4, 6, 2, 7) and model.get_layer("grid").stride == 16
    # the passthrough comes from the stride-8 map; MobileNetV2's stride-32 blocks are left out
    assert tuple(model.get_layer("passthrough_reorg").output.shape) == (None, 4, 6, 4 * 64)
    assert "Conv_1" not in {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match=r"grid_stride must be one of backbone 'mobilenet_v2'.*got 12"):
        zoo.build("yolo", input_shape=(64, 64, 3), grid_stride=12)
    with pytest.raises(ValueError, match=r"passthrough needs a backbone feature map of stride 1 "):
        zoo.build("yolo", input_shape=(64, 64, 3), grid_stride=2)


def test_space_to_depth_stacks_each_block_into_channels(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype("float32")
    # numpy: [b, H/2, 2, W/2, 2, C] -> [b, H/2, W/2, (2, 2, C)]: block row, block column, channel
    want = x.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 3, 12)
    layer = zoo.layers.SpaceToDepth(2)
    np.testing.assert_array_equal(layer(x), want)
    assert layer.compute_output_shape((None, 4, 6, 3)) == (None, 2, 3, 12)
    inputs = keras.Input((4, 6, 3))
    model = keras.Model(inputs, zoo.layers.SpaceToDepth(2, name="reorg")(inputs))
    model.save(tmp_path / "reorg.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "reorg.keras", safe_mode=True)(x), want)
    with pytest.raises(ValueError, match=r"block_size must be an int >= 2; got 1"):
        zoo.layers.SpaceToDepth(1)


def test_grid_layer_is_the_conv_output_reshaped():
    model = zoo.build("yolo", num_classes=2, input_shape=(64, 64, 3), anchors=ANCHORS, head_convs=0)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    conv = keras.Model(model.input, model.get_layer("predictions").output)(images)
    np.testing.assert_array_equal(model(images), np.reshape(conv, (2, 2, 2, 2, 7)))


def test_any_input_size_multiple_of_the_stride():
    model = zoo.build("yolo", num_classes=2, input_shape=(None, None, 3), anchors=ANCHORS, head_filters=8)
    assert model(np.zeros((1, 96, 160, 3), "float32")).shape == (1, 3, 5, 2, 7)


def test_refuses_bad_arguments_clearly():
    with pytest.raises(ValueError, match=r"multiples of 32; got 100x64; e.g. 128x64"):
        zoo.build("yolo", input_shape=(100, 64, 3))
    with pytest.raises(ValueError, match=r"anchors must be \[B, 2\] positive"):
        zoo.build("yolo", input_shape=(64, 64, 3), anchors=[[1, 0]])
    with pytest.raises(ValueError, match=r"anchors must be \[B, 2\] positive"):
        zoo.build("yolo", input_shape=(64, 64, 3), anchors=[1, 2, 3])
    with pytest.raises(ValueError, match="backbone must be the name of a zoo classification model"):
        zoo.build("yolo", input_shape=(64, 64, 3), backbone="unet")
    with pytest.raises(ValueError, match=r"returns the raw YOLO grid.*include_top=False"):
        zoo.build("yolo", input_shape=(64, 64, 3), include_top=False)
    with pytest.raises(ValueError, match=r"deepest map is \(5, 5\).*'valid'"):
        zoo.build("yolo", backbone="lenet5", input_shape=(32, 32, 1))  # stride 4 but valid convs
    with pytest.raises(ValueError, match="head_filters must be a positive int"):
        zoo.build("yolo", input_shape=(64, 64, 3), head_filters=0)
    with pytest.raises(ValueError, match=r"passthrough must be an int >= 0.*got -1"):
        zoo.build("yolo", input_shape=(64, 64, 3), passthrough=-1)


def test_registry_entry():
    entry = zoo.get_entry("yolo")
    assert entry.task == "detection" and entry.input_shape == (416, 416, 3) and entry.features is None
    assert {"backbone", "anchors", "backbone_weights", "head_convs", "head_filters",
            "passthrough", "grid_stride"} <= set(entry.arguments)


# --- the loss on hand-made grids ----------------------------------------------

def encode(image_boxes, classes, grid=(2, 2), image=(64, 64), anchors=ANCHORS):
    return boxes.yolo_encode(np.asarray(image_boxes, "float32"), classes, anchors=anchors, grid_size=grid,
                             image_size=image).numpy()


def perfect_prediction(target, num_classes):
    """The raw grid whose decoding is exactly `target`'s boxes and classes, with
    objectness 1 where a box is and 0 elsewhere."""
    pred = np.zeros(target.shape[:-1] + (5 + num_classes,), "float32")
    present = target[..., 4] == 1
    pred[..., 4] = np.where(present, BIG, -BIG)
    pred[present, 0:2] = logit(target[present, 0:2])
    pred[present, 2:4] = target[present, 2:4]
    pred[present, 5 + target[present, 5].astype(int)] = BIG
    return pred


def test_perfect_predictions_give_zero_loss():
    target = np.stack([encode([[3, 5, 27, 20], [40, 36, 60, 44], [33, 3, 63, 30]], [0, 2, 1]),
                       encode([[10, 40, 50, 60]], [1])])
    pred = perfect_prediction(target, 3)
    loss = YoloLoss(ANCHORS)
    assert float(loss(target, pred)) < 1e-6
    for name, values in loss.terms(target, pred).items():
        np.testing.assert_allclose(values, 0.0, atol=1e-6, err_msg=name)
    wrong = pred.copy()
    wrong[0, 0, 0, ..., 0] += 1.0  # one responsible slot's t_x off
    assert float(loss(target, wrong)) > 1e-3


def one_box_case():
    """A 2 x 2 grid, one anchor of 1 x 1 cell: a 1 x 1 box centred at (0.9, 0.5)
    cells, in cell (row 0, column 0), predicted perfectly."""
    target = encode([[0.4 * 32, 0, 1.4 * 32, 32]], [0], anchors=ANCHORS[:1])
    assert target[0, 0, 0, 4] == 1 and np.count_nonzero(target[..., 4]) == 1
    return target[None], perfect_prediction(target, 2)[None]


@pytest.mark.parametrize("centre_x, threshold, ignored", [
    (1.1, 0.6, True),    # IoU 0.8 / 1.2 = 0.667 > 0.6: not background
    (1.3, 0.6, False),   # IoU 0.6 / 1.4 = 0.429
    (1.1, 0.7, False),   # the threshold is an argument
])
def test_predictions_overlapping_a_box_are_not_pushed_down_as_background(centre_x, threshold, ignored):
    target, pred = one_box_case()
    # The background slot of cell (row 0, column 1) predicts a 1 x 1 box at (centre_x, 0.5), objectness sigmoid(2).
    pred[0, 0, 1, 0, :5] = [logit(centre_x - 1), 0.0, 0.0, 0.0, 2.0]
    terms = YoloLoss(ANCHORS[:1], ignore_threshold=threshold).terms(target, pred)
    expected = 0.0 if ignored else (1 / (1 + np.exp(-2.0))) ** 2
    np.testing.assert_allclose(terms["noobject"], [expected], atol=1e-6)
    for name in ("coordinates", "objectness", "class"):
        np.testing.assert_allclose(terms[name], [0.0], atol=1e-6)


def test_each_term_hand_computed_and_weighted():
    target, pred = one_box_case()
    # Responsible slot: offset (0.5, 0.5) for (0.9, 0.5), t_wh (0.5, -0.5) for (0, 0),
    # objectness 0.5, class logits equal (2 classes): log 2.
    pred[0, 0, 0, 0, :] = [0.0, 0.0, 0.5, -0.5, 0.0, 0.0, 0.0]
    # A background slot at objectness 0.5 (its 1 x 1 box at (1.5, 1.5) only touches the box: IoU 0).
    pred[0, 1, 1, 0, 4] = 0.0
    expected = {"coordinates": 0.4 ** 2 + 0.5 ** 2 + 0.5 ** 2, "objectness": 0.25,
                "noobject": 0.25, "class": np.log(2.0)}
    terms = YoloLoss(ANCHORS[:1], rescore=False, size_scale=False).terms(target, pred)
    for name, value in expected.items():
        np.testing.assert_allclose(terms[name], [value], rtol=1e-5, err_msg=name)
    # Darknet's (2 - w h) coordinate scale: the box is 1 x 1 cell of a 2 x 2 grid, w h = 1/4
    np.testing.assert_allclose(YoloLoss(ANCHORS[:1], rescore=False).terms(target, pred)["coordinates"],
                               [1.75 * expected["coordinates"]], rtol=1e-5)
    weights = {"coord_weight": 2.0, "object_weight": 3.0, "noobject_weight": 0.5, "class_weight": 7.0}
    total = YoloLoss(ANCHORS[:1], rescore=False, size_scale=False, **weights)(target, pred)
    np.testing.assert_allclose(total, np.dot(list(weights.values()), list(expected.values())), rtol=1e-5)
    # rescore (YOLOv2's): the objectness target is the IoU of the predicted box
    # with its box: here exp(0.5) x exp(-0.5) centred at (0.5, 0.5) against 1 x 1 at (0.9, 0.5).
    w, h = np.exp(0.5), np.exp(-0.5)
    overlap = (min(0.5 + w / 2, 1.4) - max(0.5 - w / 2, 0.4)) * h
    iou = overlap / (w * h + 1 - overlap)
    np.testing.assert_allclose(YoloLoss(ANCHORS[:1]).terms(target, pred)["objectness"], [(0.5 - iou) ** 2],
                               rtol=1e-5)


def test_loss_is_the_mean_over_images_and_saves_with_a_model(tmp_path):
    rng = np.random.default_rng(0)
    target = np.stack([encode([[3, 5, 27, 20]], [1]), encode([[40, 36, 60, 44], [1, 1, 9, 60]], [0, 2])])
    pred = rng.normal(0, 1, target.shape[:-1] + (8,)).astype("float32")
    loss = YoloLoss(ANCHORS, object_weight=2.0)
    per_image = [float(loss(target[i:i + 1], pred[i:i + 1])) for i in range(2)]
    np.testing.assert_allclose(loss(target, pred), np.mean(per_image), rtol=1e-6)
    model = zoo.build("yolo", num_classes=3, input_shape=(64, 64, 3), anchors=ANCHORS, head_filters=8)
    model.compile(optimizer="adam", loss=loss)
    model.save(tmp_path / "yolo.keras")
    loaded = keras.saving.load_model(tmp_path / "yolo.keras", safe_mode=True)
    assert isinstance(loaded.loss, YoloLoss) and loaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(loaded.loss(target, pred), loss(target, pred), rtol=1e-6)


def test_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"targets \[batch, rows, columns, 2, 6\].*got \(1, 2, 2, 2, 6\) and "
                                         r"\(1, 3, 3, 2, 8\)"):
        YoloLoss(ANCHORS)(np.zeros((1, 2, 2, 2, 6)), np.zeros((1, 3, 3, 2, 8)))
    with pytest.raises(ValueError, match="noobject weight must be >= 0"):
        YoloLoss(ANCHORS, noobject_weight=-1)


# --- decoding and NMS in the graph ---------------------------------------------

def reference_detections(grid, anchors, stride, score_threshold, iou_threshold, max_detections):
    """Per image: zoo.boxes' decoding, clipping to the image, YOLOv2's class
    scores and zoo.boxes.nms(class_aware=True): [(boxes, scores, classes)]."""
    rows, columns = grid.shape[1:3]
    size = (rows * stride, columns * stride)
    decoded, objectness = boxes.yolo_decode(grid, anchors=anchors, image_size=size)
    decoded = np.clip(decoded.numpy(), 0, [size[1], size[0]] * 2).reshape(len(grid), -1, 4)
    probabilities = tf.nn.softmax(grid[..., 5:]).numpy().reshape(len(grid), -1, grid.shape[-1] - 5)
    scores = objectness.numpy().reshape(len(grid), -1) * probabilities.max(-1)
    classes = probabilities.argmax(-1)
    result = []
    for image_boxes, image_scores, image_classes in zip(decoded, scores, classes):
        kept = boxes.nms(image_boxes, image_scores, iou_threshold=iou_threshold, score_threshold=score_threshold,
                         max_output_size=max_detections, class_aware=True, classes=image_classes).numpy()
        result.append((image_boxes[kept], image_scores[kept], image_classes[kept]))
    return result


def random_grid(seed, shape=(3, 4, 5, 2), classes=3):
    rng = np.random.default_rng(seed)
    grid = rng.normal(0, 1, shape + (5 + classes,)).astype("float32")
    grid[..., 4] = rng.normal(0, 3, shape)  # objectness over the whole range
    return grid


@pytest.mark.parametrize("seed, score_threshold, iou_threshold, max_detections", [
    (0, 0.1, 0.45, 100), (1, 0.3, 0.3, 100), (2, 0.0, 0.5, 4), (3, 0.5, 0.45, 10)])
def test_detections_equal_zoo_boxes_decode_and_class_aware_nms(seed, score_threshold, iou_threshold,
                                                               max_detections):
    grid = random_grid(seed)
    layer = zoo.layers.YoloDetections(ANCHORS, stride=16, score_threshold=score_threshold,
                                      iou_threshold=iou_threshold, max_detections=max_detections)
    got_boxes, got_scores, got_classes, count = (t.numpy() for t in layer(grid))
    assert got_boxes.shape == (3, max_detections, 4) and got_classes.dtype == np.int32
    want = reference_detections(grid, ANCHORS, 16, score_threshold, iou_threshold, max_detections)
    for i, (want_boxes, want_scores, want_classes) in enumerate(want):
        n = len(want_scores)
        assert count[i] == n
        np.testing.assert_allclose(got_boxes[i, :n], want_boxes, atol=1e-4)
        np.testing.assert_allclose(got_scores[i, :n], want_scores, rtol=1e-6)
        np.testing.assert_array_equal(got_classes[i, :n], want_classes)
        # padding past the count
        assert not got_boxes[i, n:].any() and not got_scores[i, n:].any() and (got_classes[i, n:] == -1).all()
    assert count.max() > 1 and (seed != 2 or (count == max_detections).all())


def test_boxes_of_different_classes_do_not_suppress_each_other():
    # Two equal boxes in one cell (anchors 0 and 1 made the same shape), of two classes, then of one class.
    grid = np.full((1, 1, 1, 2, 5 + 2), -BIG, "float32")
    grid[..., :4] = 0.0
    grid[0, 0, 0, :, 4] = [3.0, 2.0]
    grid[0, 0, 0, 0, 5], grid[0, 0, 0, 1, 6] = BIG, BIG
    layer = zoo.layers.YoloDetections([[1.0, 1.0], [1.0, 1.0]], stride=32, score_threshold=0.1)
    assert layer(grid)[3].numpy().tolist() == [2]
    np.testing.assert_array_equal(layer(grid)[2][0, :2], [0, 1])
    grid[0, 0, 0, 1, 5:] = grid[0, 0, 0, 0, 5:]
    assert layer(grid)[3].numpy().tolist() == [1]


def small_detector(seed=0):
    """A YOLO model with fresh weights whose predictions vary over the image and
    its score range: a ResNet-18 backbone (its untrained maps are not ~0 in
    inference mode, as MobileNetV2's are) and a predictions conv whose random
    weights give its outputs a standard deviation of about 2 on photos."""
    model = zoo.build("yolo", backbone="resnet18", num_classes=3, input_shape=(96, 96, 3), anchors=ANCHORS,
                      head_filters=16)
    conv = model.get_layer("predictions")
    features = keras.Model(model.input, conv.input)(photos(96)).numpy()
    scale = 2.0 / np.sqrt(np.mean(features ** 2) * features.shape[-1])
    conv.kernel.assign(np.random.default_rng(seed).normal(0, scale, conv.kernel.shape))
    return model


def test_detection_model_saves_and_refuses_other_models(tmp_path):
    detector = zoo.detection_model(small_detector(), score_threshold=0.2, max_detections=20)
    assert [tuple(o.shape) for o in detector.outputs] == [(None, 20, 4), (None, 20), (None, 20), (None,)]
    images = photos(96)
    outputs = [o.numpy() for o in detector(images)]
    assert outputs[3].min() > 0  # something to compare
    detector.save(tmp_path / "detector.keras")
    loaded = keras.saving.load_model(tmp_path / "detector.keras", safe_mode=True)
    for got, want in zip(loaded(images), outputs):
        np.testing.assert_array_equal(got, want)
    assert loaded.get_layer("detections").get_config()["max_detections"] == 20
    with pytest.raises(ValueError, match=r"takes a YOLO model.*\['Dense'\]"):
        zoo.detection_model(zoo.build("lenet5"))


def match_detections(want, got):
    """Each expected detection (box, class) matched by a distinct one of `got`
    with IoU >= 0.99 and the same class; returns the number matched."""
    (want_boxes, want_classes), (got_boxes, got_classes) = want, got
    if not len(want_boxes) or not len(got_boxes):
        return 0
    overlaps = boxes.iou(want_boxes, got_boxes).numpy()
    taken, matched = set(), 0
    for i in range(len(want_boxes)):
        for j in np.argsort(-overlaps[i]):
            if j not in taken and overlaps[i, j] >= 0.99 and want_classes[i] == got_classes[j]:
                taken.add(j)
                matched += 1
                break
    return matched


def test_detection_model_converts_to_tflite_builtins_with_the_same_detections(tmp_path):
    from export import parity, saved_model, tflite

    detector = zoo.detection_model(small_detector(1), score_threshold=0.2, max_detections=30)
    saved_model.export_saved_model(detector, str(tmp_path / "sm"), {"outputs": "detections"})
    flatbuffer = tflite.convert(str(tmp_path / "sm"))
    ops = tflite.op_counts(flatbuffer)
    assert tflite.flex_ops(ops) == [] and ops["NON_MAX_SUPPRESSION_V5"] == 1
    assert ops["SPACE_TO_DEPTH"] == 1  # the passthrough's reorg
    images = photos(96)
    want = [o.numpy() for o in detector(images)]
    got = parity.run_tflite(flatbuffer, images)
    np.testing.assert_array_equal(got[3], want[3])
    assert want[3].min() >= 3
    for i in range(len(images)):
        n = want[3][i]
        assert match_detections((want[0][i, :n], want[2][i, :n]), (got[0][i, :n], got[2][i, :n])) == n
        np.testing.assert_allclose(np.sort(got[1][i, :n]), np.sort(want[1][i, :n]), atol=1e-4)


# --- training: a few images of synthetic boxes --------------------------------

OVERFIT_ANCHORS = np.array([[0.5, 0.5], [1.0, 1.0]], "float32")
COLOURS = np.array([[230, 40, 40], [40, 200, 40], [40, 40, 230]], "float32")  # one per class
# 64 x 64 images, 2 x 2 grid: two rectangles each, (x_min, y_min, x_max, y_max) pixels and classes.
SCENES = [([[4, 6, 24, 22], [36, 38, 62, 60]], [0, 1]),
          ([[40, 4, 58, 30], [6, 36, 30, 58]], [2, 0]),
          ([[8, 8, 28, 20], [34, 34, 50, 62]], [1, 2]),
          ([[34, 2, 62, 26], [2, 40, 22, 62]], [0, 2])]


@pytest.mark.slow  # about 25 s on two busy cores
def overfit(model, images, targets, *, steps, learning_rate):
    """(first, last) YoloLoss of `steps` + 1 Adam steps on one batch (the anchors OVERFIT_ANCHORS)."""
    loss, optimizer = YoloLoss(OVERFIT_ANCHORS), keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss(targets, model(images, training=True))
        optimizer.apply(tape.gradient(value, model.trainable_weights), model.trainable_weights)
        return value

    first = float(step())
    for _ in range(steps):
        last = float(step())
    return first, last


def test_overfits_a_few_images_and_decodes_their_boxes():
    images = np.full((len(SCENES), 64, 64, 3), 128, "float32")
    for image, (scene_boxes, classes) in zip(images, SCENES):
        for (x1, y1, x2, y2), c in zip(scene_boxes, classes):
            image[y1:y2, x1:x2] = COLOURS[c]
    targets = np.stack([encode(b, c, anchors=OVERFIT_ANCHORS) for b, c in SCENES])
    assert targets[..., 4].sum() == 8  # every box placed
    # VGG-11 has no BatchNorm and head_convs=0, passthrough=0 add none: inference mode is training mode.
    model = zoo.build("yolo", backbone="vgg11", num_classes=3, input_shape=(64, 64, 3), anchors=OVERFIT_ANCHORS,
                      head_convs=0, passthrough=0)
    first, last = overfit(model, images, targets, steps=80, learning_rate=1e-3)
    assert last < 0.02 * first, (first, last)
    detected_boxes, _, detected_classes, count = (t.numpy() for t in
                                                  zoo.detection_model(model, score_threshold=0.5)(images))
    assert count.tolist() == [2] * len(SCENES)
    for i, (scene_boxes, classes) in enumerate(SCENES):
        overlaps = boxes.iou(np.array(scene_boxes, "float32"), detected_boxes[i, :2]).numpy()
        best = overlaps.argmax(1)
        assert sorted(best.tolist()) == [0, 1] and overlaps.max(1).min() > 0.7, overlaps
        np.testing.assert_array_equal(detected_classes[i, best], classes)
