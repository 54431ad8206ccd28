"""Segmentation (U-Net on shapes) and GoogLeNet's side branches through the harness."""

import csv

import keras
import numpy as np
import tensorflow_datasets as tfds

import zoo

from harness_util import read_json, run


def test_unet_on_shapes_improves_mean_iou(tmp_path):
    size = max(32, zoo.get_entry("unet").min_size)
    result = run("--model=unet", "--dataset=shapes", f"--image_size={size}",
                 "--model_args=base_filters=8,depth=2,batch_norm=True", "--epochs=4",
                 "--batch_size=8", "--learning_rate=0.003", "--seed=0", f"--model_dir={tmp_path}")
    with open(tmp_path / "training.csv") as f:
        iou = [float(row["val_mean_iou"]) for row in csv.DictReader(f)]
    assert iou[-1] > iou[0] and max(iou) > 0.4, iou
    report = read_json(tmp_path / "eval.json")
    assert report["monitor"] == "val_mean_iou" and 0 < report["mean_iou"] <= 1
    model = keras.saving.load_model(tmp_path / "best.keras")
    assert model.output.shape[1:] == (size, size, 3)  # per-pixel logits, 3 classes
    assert result["eval"]["examples"] == 64


def test_googlenet_trains_its_side_branches_and_saves_one_output(tmp_path):
    entry = zoo.get_entry("googlenet")
    assert entry.loss_weights == (1.0, 0.3, 0.3)
    from zoo.inception import AUX_MIN_SIZE

    with tfds.testing.mock_data(num_examples=16):  # a few mnist-shaped images: it is slow
        result = run("--model=googlenet", "--dataset=mnist", f"--image_size={AUX_MIN_SIZE}",
                     "--epochs=1", "--batch_size=16", "--seed=0", f"--model_dir={tmp_path}")
    assert len(result["model"].outputs) == 3  # trained with the side branches
    for name in ("best.keras", "last.keras"):
        model = keras.saving.load_model(tmp_path / name)
        assert len(model.outputs) == 1 and model.output.shape[-1] == 10
    images = np.zeros((2, AUX_MIN_SIZE, AUX_MIN_SIZE, 3), "float32")
    main = result["model"]([images], training=False)[0]
    np.testing.assert_allclose(model([images], training=False), main, atol=1e-5)
    assert np.isfinite(read_json(tmp_path / "eval.json")["loss"])
