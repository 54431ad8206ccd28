"""The detection task: boxes from the shapes' own masks, the task's hooks on tiny
grids (targets, loss, evaluation against zoo.boxes), augmentation that moves
boxes with pixels, detection parity for export, the COCO-file and tfds
sources, and one short harness run that trains and exports a detector."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from export import parity
from export.errors import ParityError
from training import augment, data, tasks
from training.errors import DataError
from zoo import boxes as zb

from harness_util import read_json, run

ANCHORS = [[0.5, 0.5], [1.0, 1.0]]  # grid cells


# --- shapes: boxes from the masks ---------------------------------------------

def test_shape_boxes_are_the_tight_extent_of_each_shape_in_its_mask():
    images, masks, objects = data.shape_scenes(40, (48, 64), seed=5, separate=True)
    assert sum(map(len, objects)) > 40
    for mask, scene in zip(masks, objects):
        covered = np.zeros(mask.shape, bool)
        for kind, (x1, y1, x2, y2) in scene:
            inside = mask[y1:y2, x1:x2]
            # tight: the shape's class reaches every side of its box
            assert (inside[0] == kind).any() and (inside[-1] == kind).any()
            assert (inside[:, 0] == kind).any() and (inside[:, -1] == kind).any()
            covered[y1:y2, x1:x2] = True
        assert not (mask[~covered] > 0).any()  # every shape pixel lies in a box


def test_shapes_segmentation_set_unchanged_by_the_boxes():
    # shape_scenes without `separate` draws exactly what segmentation trained on before
    rng = np.random.default_rng(3)
    images, masks, objects = data.shape_scenes(6, (32, 32), seed=3)
    first_background = rng.uniform(0.0, 0.3, (6, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(images[masks == 0], first_background[masks == 0])
    for mask, scene in zip(masks, objects):  # overlapping shapes: boxes of what stays visible
        assert {kind for kind, _ in scene} == set(np.unique(mask)) - {0}


def test_shapes_detection_source_through_the_task():
    shapes = data.load("shapes", image_shape=(64, 64, 3), task="detection")
    assert shapes.class_names == ("circle", "square") and shapes.sizes["train"] == 256
    image, label = next(iter(shapes.cached["train"]))
    assert label["boxes"].shape == (data.MAX_BOXES, 4) and label["classes"].dtype == tf.int32
    real = label["classes"].numpy() >= 0
    assert 1 <= real.sum() <= 3 and (label["classes"].numpy()[~real] == -1).all()
    boxes = label["boxes"].numpy()
    assert (boxes[real, 2:] > boxes[real, :2]).all() and boxes.max() <= 1 and not boxes[~real].any()


# --- the task's hooks ---------------------------------------------------------

@pytest.fixture(scope="module")
def bound():
    model = zoo.build("yolo", backbone="mobilenet_v2", num_classes=2, input_shape=(64, 64, 3),
                      anchors=ANCHORS, head_filters=8)
    return tasks.get_task("detection").for_model(model, class_names=("circle", "square"))


def labels(rows):
    """A batch of padded labels from per-image lists of (class, relative xyxy box)."""
    boxes = np.zeros((len(rows), 5, 4), "float32")
    classes = np.full((len(rows), 5), -1, "int32")
    for i, row in enumerate(rows):
        for j, (c, box) in enumerate(row):
            boxes[i, j], classes[i, j] = box, c
    return {"boxes": tf.constant(boxes), "classes": tf.constant(classes)}


SCENE = [[(0, (0.1, 0.1, 0.4, 0.3)), (1, (0.6, 0.5, 0.95, 0.9))], [(1, (0.2, 0.55, 0.45, 0.8))]]


def test_targets_are_yolo_encode_of_each_image_and_the_true_boxes(bound):
    batch = labels(SCENE)
    targets = bound.targets(batch, 2)
    assert targets["grid"].shape == (2, 2, 2, 2, 6)
    for i, row in enumerate(SCENE):
        want = zb.yolo_encode(np.array([b for _, b in row], "float32"), [c for c, _ in row],
                              anchors=ANCHORS, grid_size=(2, 2), image_size=(64, 64),
                              box_format="rel_xyxy")
        np.testing.assert_allclose(targets["grid"][i], want, atol=1e-6)
    np.testing.assert_array_equal(targets["boxes"], batch["boxes"])
    loss = bound.per_example_loss(targets, tf.zeros((2, 2, 2, 2, 7)))
    np.testing.assert_allclose(loss, zoo.losses.YoloLoss(ANCHORS).call(targets["grid"],
                                                                       tf.zeros((2, 2, 2, 2, 7))))
    assert loss.shape == (2,)


def perfect_grid(grid_targets, num_classes=2, big=30.0):
    """Raw outputs that decode to exactly the targets' boxes and classes."""
    t = np.asarray(grid_targets)
    pred = np.zeros(t.shape[:-1] + (5 + num_classes,), "float32")
    present = t[..., 4] == 1
    pred[..., 4] = np.where(present, big, -big)
    pred[present, 0:2] = np.log(t[present, 0:2] / (1 - t[present, 0:2]))
    pred[present, 2:4] = t[present, 2:4]
    pred[present, 5 + t[present, 5].astype(int)] = big
    return pred


def test_evaluation_scores_the_kept_detections_with_zoo_boxes(bound):
    targets = bound.targets(labels(SCENE), 2)
    outputs = perfect_grid(targets["grid"])
    kept_targets, detections = (tf.nest.map_structure(np.asarray, k)
                                for k in bound.kept(targets, tf.constant(outputs)))
    assert detections["count"].tolist() == [2, 1]
    assert bound.split_metrics(kept_targets, detections) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}
    # one class wrong: the reference is zoo.boxes.evaluate on the same pixel boxes
    outputs[..., 5:] = outputs[..., :4:-1]
    kept_targets, detections = (tf.nest.map_structure(np.asarray, k)
                                for k in bound.kept(targets, tf.constant(outputs)))
    scale = np.array([64, 64, 64, 64])
    truth = [{"boxes": np.array([b for _, b in row]) * scale, "classes": [c for c, _ in row]}
             for row in SCENE]
    predicted = [{k: detections[k][i][:n] for k in ("boxes", "scores", "classes")}
                 for i, n in enumerate(detections["count"])]
    want = zb.evaluate(predicted, truth)
    got = bound.split_metrics(kept_targets, detections)
    assert got == {k: want[k] for k in ("AP", "AP50", "AP75")} and got["AP50"] == 0.0


def test_the_task_needs_its_model_and_checks_datasets_and_augmentations():
    task = tasks.get_task("detection")
    with pytest.raises(RuntimeError, match="for_model"):
        task.targets(labels(SCENE), 2)
    with pytest.raises(DataError, match="trains YOLO grid models"):
        task.for_model(zoo.build("lenet5"))
    assert task.monitor == "val_AP50"
    for name in ("shapes", "voc/2007", "coco/2017", "coco:/data/annotations.json"):
        assert task.check_dataset(name, model="yolo") is None
    assert "must have boxes" in task.check_dataset("digits", model="yolo")
    assert task.check_augment(["flip", "crop", "color", "pca"]) is None
    assert task.check_augment(["flip", "rotate", "mixup"]) == (
        "--augment=rotate,mixup would move the pixels but not the boxes; detection accepts "
        "flip, crop, color, pca.")


def test_anchors_come_from_the_training_boxes_unless_given():
    shapes = data.load("shapes", image_shape=(64, 64, 3), task="detection")
    task = tasks.get_task("detection")
    args = task.model_args({}, model="yolo", data=shapes, image_shape=(64, 64, 3))
    anchors = np.array(args["anchors"])
    assert anchors.shape == (5, 2) and (np.diff(anchors.prod(1)) > 0).all()
    # shapes are 0.2 to 0.5 of the side: 13 to 32 pixels, 0.4 to 1 cell of 32 pixels
    assert 0.35 < anchors.min() and anchors.max() < 1.05
    assert task.model_args({"anchors": ANCHORS}, model="yolo", data=shapes,
                           image_shape=(64, 64, 3)) == {"anchors": ANCHORS}
    # a finer grid (grid_stride 16): the same shapes in cells of 16 pixels, twice as many cells
    finer = task.model_args({"grid_stride": 16}, model="yolo", data=shapes, image_shape=(64, 64, 3))
    np.testing.assert_allclose(finer["anchors"], 2 * anchors, atol=2e-4)


# --- augmentation moves the boxes ---------------------------------------------

@pytest.mark.parametrize("names", [["flip"], ["crop"], ["flip", "crop", "color"]])
def test_augmented_boxes_still_bound_their_rectangles(names):
    augmenter = augment.build_box_augmenter(names, image_shape=(48, 48, 3), seed=1,
                                            value_range=(0, 1))
    assert_boxes_bound_their_rectangles(augmenter)


def test_a_default_detection_run_flips_and_shifts_the_boxes_with_the_pixels():
    from training import tasks, train
    from training.config import RunConfig

    entry = zoo.get_entry("yolo")
    task = tasks.get_task(entry.task)
    config = RunConfig(model="yolo", dataset="shapes").with_model_defaults(entry, task)
    assert config.augment == ("flip", "crop")
    assert RunConfig(model="yolo", augment=()).with_model_defaults(entry, task).augment == ()
    # the augmenters the harness builds for that run (train._augmenters, as _batches calls it)
    augmenter, batch_augmenter = train._augmenters(config.augment, "detection", (48, 48, 3), 2,
                                                   config.seed, None)
    assert isinstance(augmenter, augment.BoxAugmenter) and batch_augmenter is None
    assert [type(layer).__name__ for layer in augmenter.moving] == ["RandomFlip", "RandomTranslation"]
    assert_boxes_bound_their_rectangles(augmenter)


def assert_boxes_bound_their_rectangles(augmenter):
    """`augmenter` moves 16 images of one white rectangle each, boxes relative xyxy:
    each moved box is the moved rectangle's extent, padding rows stay empty, and
    some boxes did move."""
    rng = np.random.default_rng(0)
    images = np.zeros((16, 48, 48, 3), "float32")
    boxes = np.zeros((16, 3, 4), "float32")
    classes = np.full((16, 3), -1, "int32")
    for i in range(16):
        x1, y1 = rng.integers(8, 24, 2)
        x2, y2 = x1 + rng.integers(8, 16), y1 + rng.integers(8, 16)
        images[i, y1:y2, x1:x2] = 1.0
        boxes[i, 0], classes[i, 0] = np.array([x1, y1, x2, y2]) / 48, 0
    moved, label = augmenter(tf.constant(images), {"boxes": tf.constant(boxes),
                                                   "classes": tf.constant(classes)})
    moved, got = moved.numpy(), label["boxes"].numpy() * 48
    changed = 0
    for i in range(16):
        rows, cols = np.nonzero(moved[i].max(-1) > 0.35)  # the rectangle after colour jitter
        want = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        np.testing.assert_allclose(got[i, 0], want, atol=1.01)
        changed += not np.allclose(got[i, 0], boxes[i, 0] * 48)
        assert not (got[i, 1:, 2:] - got[i, 1:, :2]).any(axis=-1).any()  # padding stays empty
    assert changed >= 4  # the boxes did move


def test_box_augmenter_refuses_what_cannot_keep_boxes():
    with pytest.raises(ValueError, match="--augment=elastic would move the pixels but not the boxes"):
        augment.build_box_augmenter(["flip", "elastic"], image_shape=(32, 32, 3))


# --- export parity on detections ------------------------------------------------

def detections(rows, size=4):
    """Padded (boxes, scores, classes, count) from per-image lists of (box, score, class)."""
    out = [np.zeros((len(rows), size, 4)), np.zeros((len(rows), size)), np.full((len(rows), size), -1),
           np.array([len(r) for r in rows])]
    for i, row in enumerate(rows):
        for j, (box, score, c) in enumerate(row):
            out[0][i, j], out[1][i, j], out[2][i, j] = box, score, c
    return out


KERAS = [[((10, 10, 30, 40), 0.9, 0), ((50, 50, 60, 70), 0.6, 1)], [], [((0, 0, 20, 20), 0.5, 2)]]


def test_detection_parity_matches_boxes_of_the_same_class_in_any_order():
    tflite = [[KERAS[0][1], ((10, 10, 30, 40.001), 0.9001, 0)], [], KERAS[2]]
    result = parity.compare_detections(detections(KERAS), detections(tflite), "none")
    assert result["passed"] and result["detection_agreement"] == 1.0 and result["detections"] == 3
    assert result["min_matched_iou"] > 0.99 and result["max_score_error"] == pytest.approx(1e-4)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[0].__setitem__(0, ((12, 10, 32, 40), 0.9, 0)), r"2 of 3 matched"),  # moved
    (lambda rows: rows[2].__setitem__(0, ((0, 0, 20, 20), 0.5, 1)), r"2 of 3 matched"),  # class
    (lambda rows: rows[1].append(((5, 5, 9, 9), 0.3, 0)), r"3 of 4 matched.*image 1 \(Keras 0, TFLite 1"),
])
def test_detection_parity_fails_on_moved_relabelled_or_extra_boxes(change, message):
    tflite = [list(row) for row in KERAS]
    change(tflite)
    with pytest.raises(ParityError, match=message):
        parity.compare_detections(detections(KERAS), detections(tflite), "none")
    # a quantized model's boxes may move: IoU 0.5 is enough there
    if message == r"2 of 3 matched" and tflite[2] == KERAS[2]:
        assert parity.compare_detections(detections(KERAS), detections(tflite), "int8",
                                         threshold=0.6)["passed"]


def test_detection_parity_lets_detections_near_the_score_threshold_flicker_when_quantized():
    # At the detector's threshold 0.45, an int8 export may lose a detection scored 0.5
    # (within DETECTION_SCORE_TIE 0.1 of it) or gain one at 0.46; not one scored 0.6.
    lost_weak = [list(row) for row in KERAS]
    lost_weak[2] = []
    lost_weak[1] = [((5, 5, 9, 9), 0.46, 0)]
    result = parity.compare_detections(detections(KERAS), detections(lost_weak), "int8", score_threshold=0.45)
    assert result["passed"] and result["detection_agreement"] == 1.0 and result["near_ties"] == 2
    lost_confident = [[KERAS[0][0]], [], KERAS[2]]
    with pytest.raises(ParityError, match=r"2 of 3 matched.*below 0.55 not counted"):
        parity.compare_detections(detections(KERAS), detections(lost_confident), "int8", score_threshold=0.45)
    with pytest.raises(ParityError, match="2 of 4 matched"):  # float exports: no such slack
        parity.compare_detections(detections(KERAS), detections(lost_weak), "none", score_threshold=0.45)


# --- sources: a COCO file and tfds's detection sets ---------------------------------

def test_coco_annotations_file_with_images_beside_it(tmp_path):
    from PIL import Image

    sizes = [(40, 30), (64, 48), (32, 32), (50, 20), (30, 60)]  # (width, height)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(np.full((h, w, 3), 40 * i, "uint8")).save(tmp_path / f"im{i}.png")
    coco = {"images": [{"id": 10 + i, "file_name": f"im{i}.png", "width": w, "height": h}
                       for i, (w, h) in enumerate(sizes)],
            "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
            "annotations": [{"image_id": 10 + i, "category_id": 7 if i % 2 else 3, "iscrowd": 0,
                             "bbox": [2, 4, w / 2, h / 4]} for i, (w, h) in enumerate(sizes)]
            + [{"image_id": 10, "category_id": 7, "iscrowd": 1, "bbox": [0, 0, 5, 5]}]}
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(coco))
    splits, names = data.detection_source(f"coco:{path}", (32, 32, 3), None, False)
    assert names == ("cat", "dog")  # category id order
    seen = {}
    for split in ("train", "validation", "test"):
        for image, label in splits[split].as_numpy_iterator():
            h, w = image.shape[:2]
            seen[(w, h)] = label
    assert set(seen) == set(sizes)  # every image in exactly one split
    for i, (w, h) in enumerate(sizes):
        label = seen[(w, h)]  # the crowd box of image 0 is left out
        np.testing.assert_allclose(label["boxes"], [[2 / w, 4 / h, (2 + w / 2) / w, (4 + h / 4) / h]],
                                   rtol=1e-6)
        assert label["classes"].tolist() == [1 if i % 2 else 0]
    (tmp_path / "im3.png").unlink()
    with pytest.raises(DataError, match=r"1 image file\(s\) named in it are not beside it.*im3.png"):
        data.detection_source(f"coco:{path}", (32, 32, 3), None, False)


def consistent_examples(builder, *args, **kwargs):
    """tfds mock examples whose object features agree in length (tfds's random mocks draw
    each sequence's length on its own): 4 images of 3 objects, every other one a crowd."""
    rng = np.random.default_rng(0)

    def example(i):
        corner = rng.uniform(0.0, 0.5, (3, 2))
        yxyx = np.concatenate([corner, corner + rng.uniform(0.1, 0.5, (3, 2))], 1).astype("float32")

        def zeros(info, rows):  # every feature, each unknown length `rows`
            if isinstance(info, dict):
                return {k: zeros(v, 3 if k == "objects" else rows) for k, v in info.items()}
            shape = [rows if d is None else d for d in info.shape]
            return b"" if info.dtype == tf.string else np.zeros(shape, info.dtype.as_numpy_dtype)

        values = zeros(builder.info.features.get_tensor_info(), 2)
        values["image"] = rng.integers(0, 255, (24, 32, 3), "uint8")
        values["objects"]["bbox"] = yxyx
        values["objects"]["label"] = np.array([i, i + 1, 2], "int64")
        if "is_crowd" in values["objects"]:
            values["objects"]["is_crowd"] = np.array([False, i % 2 == 1, False])
        return values

    examples = [example(i) for i in range(4)]
    return tf.data.Dataset.from_generator(lambda: iter(examples),
                                          output_signature=builder.info.features.get_tensor_spec())


@pytest.mark.parametrize("name", ["voc/2007", "coco/2017"])
def test_tfds_detection_sets_give_xyxy_boxes(name):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(as_dataset_fn=consistent_examples):
        splits, names = data.detection_source(name, (32, 32, 3), None, True)
        raw = list(tfds.builder(name).as_dataset(split="train"))
        got = list(splits["train"].as_numpy_iterator())
    assert len(names) == (20 if name.startswith("voc") else 80)
    assert len(got) == len(raw) == 4
    for (image, label), example in zip(got, raw):
        objects = {k: v.numpy() for k, v in example["objects"].items()}
        keep = ~objects["is_crowd"] if "is_crowd" in objects else np.ones(3, bool)  # crowds left out
        np.testing.assert_allclose(label["boxes"], objects["bbox"][keep][:, [1, 0, 3, 2]])
        np.testing.assert_array_equal(label["classes"], objects["label"][keep])
        assert image.shape == (24, 32, 3)
    if name.startswith("coco"):
        assert [len(label["classes"]) for _, label in got] == [3, 2, 3, 2]


# --- zoo-predict draws a detector's boxes -------------------------------------------

def test_predict_draws_the_boxes_a_yolo_model_detects(tmp_path):
    from conftest import photos
    from PIL import Image
    from test_yolo import small_detector

    from zoo.explain.predict import load_predictor, predict_files

    model = small_detector()
    model.save(tmp_path / "best.keras")
    paths = []
    for i, photo in enumerate(photos(96)[:2]):
        paths.append(str(tmp_path / f"photo{i}.png"))
        Image.fromarray(photo.astype("uint8")).save(paths[-1])
    predictor = load_predictor(tmp_path / "best.keras", labels=["a", "b", "c"])
    assert predictor.kind == "detections"
    report = predict_files(predictor, paths, tmp_path / "out")
    images = np.stack([np.asarray(Image.open(p), "float32") for p in paths])
    boxes, scores, classes, count = (np.asarray(t) for t in zoo.detection_model(model)(images))
    assert count.min() > 0
    for i, result in enumerate(report["predictions"]):
        found = result["detections"]
        assert len(found) == count[i]
        np.testing.assert_allclose([d["box"] for d in found], boxes[i, :count[i]], atol=0.01)
        np.testing.assert_allclose([d["score"] for d in found], scores[i, :count[i]], rtol=1e-5)
        assert [d["name"] for d in found] == ["abc"[c] for c in classes[i, :count[i]]]
        assert Image.open(result["picture"]).size == (400, 400)


# --- through the harness -----------------------------------------------------------

@pytest.mark.slow  # about 90 s on two busy cores: traces a MobileNetV2 YOLO and converts it
def test_yolo_trains_on_shapes_and_exports_a_detector_with_nms_inside(tmp_path):
    result = run("--model=yolo", "--dataset=shapes", "--image_size=64", "--model_args=head_filters=16",
                 "--epochs=1", "--batch_size=32", "--augment=flip,crop", "--export=tflite",
                 "--seed=0", f"--model_dir={tmp_path}")
    report = read_json(tmp_path / "eval.json")
    assert report["monitor"] == "val_AP50" and set(report["per_class"]) == {"circle", "square"}
    assert all(0 <= report[k] <= 1 for k in ("AP", "AP50", "AP75"))
    with open(tmp_path / "training.csv") as f:
        assert "val_AP50" in f.readline()
    assert (tmp_path / "detections.png").stat().st_size > 0
    best = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    np.testing.assert_allclose(zoo.yolo.grid_layer(best).anchors, report["anchors"], rtol=1e-6)
    exported, = result["export"]
    tflite = exported["tflite"]
    assert tflite["op_counts"]["NON_MAX_SUPPRESSION_V5"] == 1 and not tflite["flex"]["ops"]
    assert tflite["parity"]["passed"] and "detection_agreement" in tflite["parity"]
    assert exported["outputs"] == ["detection_boxes", "detection_scores", "detection_classes",
                                   "detection_count"]
    assert exported["metadata"]["labels"] == ["circle", "square"]
    # zoo-predict reads the exported detector as a phone would, and finds what Keras finds
    from zoo.explain.predict import load_predictor

    images = np.asarray([x for x, _ in data.load("shapes", image_shape=(64, 64, 3), task="detection")
                         .cached["test"].take(4).as_numpy_iterator()], "float32")
    lite = load_predictor(tflite["path"])
    assert lite.kind == "detections" and lite.labels == ("circle", "square")
    from training.tasks.detection import EXPORT_THRESHOLDS

    want = [np.asarray(o) for o in zoo.detection_model(best, **EXPORT_THRESHOLDS)(images * 255)]
    got = lite.outputs(images * 255)
    np.testing.assert_array_equal(got[3], want[3])
    assert parity.compare_detections(want, got, "none")["passed"]


# --- one object per image: localisation and landmarks -----------------------------

ONE_EACH = [[(1, (0.2, 0.1, 0.6, 0.5)), (0, (0.7, 0.7, 0.8, 0.9))], []]  # the largest, and none


def test_localization_targets_are_the_courses_vector_of_the_largest_object():
    task = tasks.get_task("localization")
    targets = task.targets(labels(ONE_EACH), 2).numpy()
    np.testing.assert_allclose(targets, [[1, 0.4, 0.3, 0.4, 0.4, 0, 1], [0, 0, 0, 0, 0, 0, 0]], atol=1e-6)
    # presence wrong on image 1; image 0 right: its class, and its box at IoU (0.3 x 0.4) / 0.16 = 0.75
    outputs = np.array([[5, 0.45, 0.3, 0.4, 0.3, -2, 2], [3, 0, 0, 0, 0, 0, 0]], "float32")
    metrics = task.split_metrics(targets, outputs)
    assert metrics["localization_accuracy"] == 0.5 and metrics["presence_accuracy"] == 0.5
    assert metrics["class_accuracy"] == 1.0 and metrics["mean_iou"] == pytest.approx(0.75)
    loss = task.per_example_loss(tf.constant(targets), tf.constant(outputs))
    np.testing.assert_allclose(loss, zoo.losses.LocalizationLoss().call(targets, outputs))
    shapes = data.load("shapes", image_shape=(32, 32, 3), task=task)
    counts = [int((label["classes"] >= 0).sum()) for _, label in shapes.cached["train"].as_numpy_iterator()]
    assert set(counts) == {0, 1}  # background-only images too


def test_landmarks_come_from_the_object_box_for_the_models_number_of_points():
    model = zoo.build("landmarker", num_landmarks=5, input_shape=(32, 32, 3))
    task = tasks.get_task("landmarks").for_model(model)
    targets = task.targets(labels(ONE_EACH), 1).numpy()
    np.testing.assert_allclose(targets[0], [1, 0.2, 0.1, 0.6, 0.1, 0.6, 0.5, 0.2, 0.5, 0.4, 0.3], atol=1e-6)
    assert not targets[1].any()
    outputs = targets.copy()
    outputs[:, 0] = [4, -4]
    outputs[0, 1:] += 0.03  # each point off by 0.03 * sqrt(2) = 0.042 < 0.05
    metrics = task.split_metrics(targets, outputs)
    assert metrics["landmark_accuracy"] == 1.0 and metrics["mean_point_error"] == pytest.approx(0.0424, abs=1e-4)
    with pytest.raises(DataError, match=r"num_landmarks 1, 4, 5\); landmarker predicts 7 numbers"):
        task.for_model(zoo.build("landmarker", num_landmarks=3, input_shape=(32, 32, 3)))


@pytest.mark.slow  # about 40 s each on two busy cores (a MobileNetV2 traced at 32 px)
@pytest.mark.parametrize("model, monitor", [("localizer", "val_localization_accuracy"),
                                            ("landmarker", "val_landmark_accuracy")])
def test_one_object_models_train_on_shapes(tmp_path, model, monitor):
    result = run(f"--model={model}", "--dataset=shapes", "--image_size=32", "--epochs=1",
                 "--batch_size=32", "--augment=flip", "--seed=0", f"--model_dir={tmp_path}")
    report = read_json(tmp_path / "eval.json")
    assert report["monitor"] == monitor and 0 <= report[monitor[len("val_"):]] <= 1
    assert 0 <= report["presence_accuracy"] <= 1 and np.isfinite(report["loss"])
    width = 5 + 2 if model == "localizer" else 1 + 2 * 4  # circle, square; 4 corners
    assert result["model"].output.shape[-1] == width
