"""--augment wired into the pipeline (the layers themselves are tested in test_augment.py)."""

import numpy as np
import pytest
from absl import flags

from training import data, train
from training.errors import HarnessError

from harness_util import parse, run


def test_augmenters_run_in_the_training_pipeline_only():
    digits = data.load("digits", image_shape=(32, 32, 3))
    augmenter, batch_augmenter = train._augmenters(
        ["flip", "pca", "mixup"], "classification", (32, 32, 3), 10, 0, digits.splits["train"])
    assert augmenter is not None and batch_augmenter is not None
    train_ds = data.batches(digits.splits["train"], batch_size=32, num_classes=10, training=True,
                            seed=0, augmenter=augmenter, batch_augmenter=batch_augmenter)
    images, targets = next(iter(train_ds))
    assert images.shape == (32, 32, 32, 3) and images.dtype == "float32"
    np.testing.assert_allclose(targets.numpy().sum(axis=1), 1, atol=1e-5)
    assert (targets.numpy().max(axis=1) < 1).any()  # mixup mixed some labels
    plain = data.batches(digits.splits["validation"], batch_size=32, num_classes=10,
                         augmenter=augmenter, batch_augmenter=batch_augmenter)
    clean = data.batches(digits.splits["validation"], batch_size=32, num_classes=10)
    for (a, ya), (b, yb) in zip(plain.take(1), clean.take(1)):  # evaluation stays untouched
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)


def test_geometric_augmentation_is_refused_for_segmentation():
    shapes = data.load("shapes", image_shape=(32, 32, 3), task="segmentation")
    with pytest.raises(HarnessError, match="flip would move the image but not its mask"):
        train._augmenters(["flip", "color"], "segmentation", (32, 32, 3), 3, 0,
                          shapes.splits["train"])


def test_unknown_augmentation_is_a_flag_error():
    with pytest.raises(flags.IllegalFlagValueError, match="unknown blur.*accepted: flip"):
        parse("--augment=flip,blur")


def test_training_with_augmentation(tmp_path):
    result = run("--augment=flip,rotate,cutmix", "--epochs=1", "--classes=0,1,2",
                 f"--model_dir={tmp_path}")
    assert result["eval"]["accuracy"] > 0.3
