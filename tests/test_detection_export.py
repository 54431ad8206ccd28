"""Exporting detectors: `zoo-export` of a raw YOLO .keras (what a detection run saves
as best.keras) exports the detector with decoding and NMS inside, as the harness
does. A tiny YOLO (five stride-2 convs, 64 px) overfit on four scenes in about
two seconds gives real detections to compare."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from test_yolo import COLOURS, OVERFIT_ANCHORS, SCENES, encode, overfit

import export
import zoo
from export import ExportError, source
from training import tasks
from training.tasks.detection import EXPORT_THRESHOLDS

from harness_util import REPO, env

NUM_CLASSES = 3


def scene_images():
    images = np.full((len(SCENES), 64, 64, 3), 128, "float32")
    for image, (scene_boxes, classes) in zip(images, SCENES):
        for (x1, y1, x2, y2), c in zip(scene_boxes, classes):
            image[y1:y2, x1:x2] = COLOURS[c]
    return images


def tiny_yolo():
    """A YOLO grid model as zoo.build("yolo") makes one (0-255 in, the YoloGrid layer
    out), on a backbone small enough to train in seconds: five 3x3 stride-2 convs."""
    inputs = keras.Input((64, 64, 3), name="images")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    for index, filters in enumerate((16, 32, 32, 32, 32)):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                                name=f"conv{index}")(x)
    x = keras.layers.Conv2D(len(OVERFIT_ANCHORS) * (5 + NUM_CLASSES), 1, name="predictions")(x)
    grid = zoo.layers.YoloGrid(OVERFIT_ANCHORS, NUM_CLASSES, 32, name="grid")(x)
    return keras.Model(inputs, grid, name="tiny_yolo")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, .keras path, images): the tiny YOLO overfit on SCENES (150 Adam steps)."""
    keras.utils.set_random_seed(0)
    images = scene_images()
    targets = np.stack([encode(b, c, anchors=OVERFIT_ANCHORS) for b, c in SCENES])
    model = tiny_yolo()
    first, last = overfit(model, images, targets, steps=150, learning_rate=3e-3)
    assert last < 0.01 * first, (first, last)
    path = tmp_path_factory.mktemp("tiny_yolo") / "best.keras"
    model.save(path)
    return model, path, images


def test_the_detection_task_is_told_by_the_models_grid_output(trained):
    model, _, _ = trained
    assert source.output_kinds(model) == [source.YOLO_GRID]
    task = tasks.of_model(model)
    assert task.name == "detection" and task.output_kind == source.YOLO_GRID
    assert tasks.of_model(zoo.build("lenet5")).name == "classification"
    detector, kinds = task.export_model(model)
    assert kinds == list(source.DETECTION_KINDS) == source.output_kinds(detector)
    # the exported detector finds every box of the overfit scenes
    boxes, _, classes, count = (np.asarray(t) for t in detector(scene_images()))
    assert count.tolist() == [2] * len(SCENES)
    for i, (scene_boxes, scene_classes) in enumerate(SCENES):
        overlaps = zoo.boxes.iou(np.array(scene_boxes, "float32"), boxes[i, :2]).numpy()
        assert overlaps.max(1).min() > 0.6
        np.testing.assert_array_equal(classes[i, overlaps.argmax(1)], scene_classes)
    assert detector.get_layer("detections").score_threshold == EXPORT_THRESHOLDS["score_threshold"]


def test_zoo_export_of_a_raw_yolo_keras_exports_the_detector_with_nms_inside(trained, tmp_path):
    _, path, _ = trained
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "export", f"--model={path}", f"--output_dir={out}",
                          "--formats=tflite", "--latency_runs=0", "--labels=red,green,blue"],
                         capture_output=True, text=True, timeout=300, cwd=REPO, env=env())
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((out / "tiny_yolo.report.json").read_text())
    assert report["outputs"] == list(source.DETECTION_KINDS)
    tflite = report["tflite"]
    assert tflite["op_counts"]["NON_MAX_SUPPRESSION_V5"] == 1 and not tflite["flex"]["ops"]
    parity = tflite["parity"]
    assert parity["passed"] and parity["detection_agreement"] == 1.0 and parity["rule"]["min_iou"] == 0.99
    assert f"parity (none, 8 images): {parity['detections']} detections, agreement 1.0000" in run.stdout
    metadata = json.loads((out / "tiny_yolo.metadata.json").read_text())
    assert metadata["labels"] == ["red", "green", "blue"]


def test_dataset_arrays_keep_box_labels_for_representative_data():
    # zoo-export --representative_data=shapes on a detector reads the detection task's labels.
    from training import data

    images, labels, names = data.arrays("shapes", image_shape=(64, 64, 3), split="test",
                                        value_range=(0, 255), task="detection", limit=4)
    assert images.shape == (4, 64, 64, 3) and 0 <= images.min() and images.max() <= 255
    assert labels["boxes"].shape[::2] == (4, 4) and labels["classes"].shape[0] == 4
    assert (labels["classes"] >= 0).any(axis=1).all() and names == ["circle", "square"]


def op_tensor_types(flatbuffer):
    """{op name: {(input types, output types), ...}} over the flatbuffer's main graph."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(flatbuffer, 0)
    graph, found = model.Subgraphs(0), {}
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        ins = tuple(types[graph.Tensors(op.Inputs(i)).Type()] for i in range(op.InputsLength())
                    if op.Inputs(i) >= 0)
        outs = tuple(types[graph.Tensors(op.Outputs(i)).Type()] for i in range(op.OutputsLength()))
        found.setdefault(names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())], set()).add((ins, outs))
    return found


def test_int8_detector_runs_the_network_in_int8_and_nms_in_float_with_the_same_detections(trained, tmp_path):
    import export

    model, _, images = trained
    detector = zoo.detection_model(model, **EXPORT_THRESHOLDS)
    common = dict(formats="tflite", held_out=images, latency_runs=0)
    plain = export.export_model(detector, tmp_path / "float", **common)["tflite"]
    int8 = export.export_model(detector, tmp_path / "int8", quantize="int8", representative_data=images,
                               **common)["tflite"]
    assert int8["bytes"] < 0.5 * plain["bytes"] and int8["float32_layers"] == ["detections"]
    with open(int8["path"], "rb") as f:
        ops = op_tensor_types(f.read())
    assert {outs for _, outs in ops["CONV_2D"]} == {("INT8",)}  # the network: int8
    (nms_inputs, _), = ops["NON_MAX_SUPPRESSION_V5"]
    assert nms_inputs[:2] == ("FLOAT32", "FLOAT32")  # boxes and scores
    assert not any("INT8" in ins for ins, _ in ops["LOGISTIC"] | ops["EXP"])  # decoding: float32
    # parity: every Keras detection found again, same class, IoU >= 0.5 (export's int8 rule)
    parity = int8["parity"]
    assert parity["passed"] and parity["detections"] == 2 * len(SCENES)
    assert parity["detection_agreement"] == 1.0 and parity["min_matched_iou"] > 0.85
    assert parity["max_score_error"] < 0.02


@pytest.mark.parametrize("labels", [["red", "green"], ["a", "b", "c", "d"]])
def test_labels_must_name_every_class_of_the_detector(trained, labels, tmp_path):
    model, _, _ = trained
    detector, kinds = tasks.of_model(model).export_model(model)
    for exported, exported_kinds in ((detector, kinds), (model, None)):
        with pytest.raises(ExportError, match=f"{len(labels)} labels were given but .* has 3 classes"):
            export.export_model(exported, tmp_path / "out", formats="tflite", labels=labels,
                                output_kinds=exported_kinds, latency_runs=0)
