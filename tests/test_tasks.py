"""Tasks as plug-ins (training/tasks): each hook on tiny arrays, and a toy third task
that trains through the unchanged loop."""

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from training import data, loop, tasks

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_get_task_refuses_an_unknown_name_and_lists_the_known_ones():
    with pytest.raises(tasks.UnknownTask,
                       match=r"^Unknown task 'captioning'; the known tasks are "
                             r"classification, detection, landmarks, localization, "
                             r"pair_similarity, segmentation, similarity, style\.$"):
        tasks.get_task("captioning")
    task = tasks.get_task("segmentation")
    assert tasks.get_task(task) is task and task.name == "segmentation"


def test_classification_targets_loss_metrics_monitor():
    task = tasks.get_task("classification")
    targets = task.targets(tf.constant([0, 2]), 3)
    np.testing.assert_array_equal(targets, [[1, 0, 0], [0, 0, 1]])
    logits = tf.constant([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    loss = task.per_example_loss(targets, logits, label_smoothing=0.1)
    by_keras = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1,
                                                    reduction=None)(targets, logits)
    np.testing.assert_allclose(loss, by_keras, rtol=1e-6)
    smoothed = targets.numpy() * 0.9 + 0.1 / 3
    by_hand = -(smoothed * tf.nn.log_softmax(logits).numpy()).sum(-1)
    np.testing.assert_allclose(loss, by_hand, rtol=1e-5)
    assert loss.dtype == tf.float32 and loss.shape == (2,)
    assert task.per_example_loss(targets, tf.cast(logits, tf.float16)).dtype == tf.float32

    assert [m.name for m in task.metrics(10)] == ["accuracy"]
    accuracy, top5 = task.metrics(11)
    assert top5.name == "top5_accuracy"
    accuracy.update_state(targets, tf.constant([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert float(accuracy.result()) == 0.5
    assert task.monitor == "val_accuracy" and task.output_kind == "logits"
    assert task.report({"loss": 1.0, "accuracy": 0.5}) == {"loss": 1.0, "accuracy": 0.5}
    assert task.check_augment(["flip", "mixup"]) is None


def test_segmentation_loss_is_the_mean_over_each_image():
    task = tasks.get_task("segmentation")
    masks = tf.constant([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])  # 2 images of 2x2 pixels
    targets = task.targets(masks, 2)
    assert targets.shape == (2, 2, 2, 2)
    logits = tf.random.stateless_normal((2, 2, 2, 2), seed=(1, 2))
    loss = task.per_example_loss(targets, logits)
    per_pixel = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)(
        targets, logits)
    np.testing.assert_allclose(loss, per_pixel.numpy().reshape(2, -1).mean(-1), rtol=1e-6)

    pixel_accuracy, mean_iou = task.metrics(2)
    prediction = tf.one_hot(tf.zeros_like(masks), 2)  # every pixel background
    pixel_accuracy.update_state(targets, prediction)
    mean_iou.update_state(targets, prediction)
    assert float(pixel_accuracy.result()) == 0.5
    assert float(mean_iou.result()) == pytest.approx(0.25)  # IoU 0.5 and 0
    assert task.monitor == "val_mean_iou" and task.output_kind == "per_pixel_logits"


def test_segmentation_refuses_augmentations_that_move_the_image():
    task = tasks.get_task("segmentation")
    assert task.check_augment(["color", "pca"]) is None
    assert task.check_augment(["flip", "color", "crop"]) == (
        "--augment=flip,crop would move the image but not its mask; segmentation accepts "
        "color and pca.")


def test_tasks_check_their_datasets():
    classification, segmentation = tasks.get_task("classification"), tasks.get_task("segmentation")
    assert classification.check_dataset("mnist", model="lenet5") is None
    assert "is a classifier" in classification.check_dataset("shapes", model="lenet5")
    assert segmentation.check_dataset("oxford_iiit_pet:4.0.0", model="unet") is None
    assert "must have masks" in segmentation.check_dataset("digits", model="unet")


class Toy(tasks.Task):
    """A regression-like task: the model's 2 outputs regress the label's one-hot code."""

    name = "toy_regression"
    monitor = "val_mae"

    def targets(self, labels, num_classes):
        return tf.one_hot(labels, num_classes) * 2.0 - 1.0

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        return tf.reduce_mean(tf.square(tf.cast(outputs, tf.float32) - targets), axis=-1)

    def metrics(self, num_classes):
        return [keras.metrics.MeanAbsoluteError(name="mae")]


@pytest.fixture
def toy():
    task = tasks.register(Toy())
    yield task
    tasks.unregister(task.name)


def test_a_third_task_trains_through_the_loop_unchanged(toy):
    assert tasks.get_task("toy_regression") is toy
    assert "toy_regression" in tasks.names()
    rng = np.random.default_rng(0)
    examples = tf.data.Dataset.from_tensor_slices(
        (rng.uniform(size=(16, 4, 4, 1)).astype("float32"), rng.integers(0, 2, 16)))
    train = data.batches(examples, batch_size=8, num_classes=2, training=True, seed=0, task=toy)
    validation = data.batches(examples, batch_size=8, num_classes=2, task="toy_regression")
    _, targets = next(iter(validation))
    assert set(np.unique(targets)) == {-1.0, 1.0}  # the toy's targets, not one-hot

    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    trainer = loop.Trainer(model, strategy=tf.distribute.get_strategy(), task=toy, num_classes=2)
    before = trainer.evaluate(validation)
    assert set(before) == {"loss", "mae"}
    logs = trainer.fit(train, validation, optimizer=keras.optimizers.SGD(0.1), epochs=1, steps=1,
                       verbose=0)
    assert set(logs) == {"loss", "mae", "val_loss", "val_mae", "learning_rate"}
    assert logs["val_loss"] < before["loss"]


def test_no_task_names_outside_the_task_modules():
    # The seam: the loop, checkpoints, outputs, data and export ask the task, never its name.
    pattern = re.compile(r'\btask\s*[!=]=\s*"')
    offenders = [f"{path.relative_to(REPO)}:{n}"
                 for folder in ("training", "export", "zoo")
                 for path in sorted((REPO / folder).rglob("*.py"))
                 if "tasks" not in path.relative_to(REPO).parts
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders
