"""1D and 3D data for the harness (npz:, trace, moving_digits) and runs that train on them."""

import importlib.util
import os

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import export
from training import augment, data
from training.errors import DataError, HarnessError

from harness_util import read_json, run


def _arrays(ds):
    x, y = zip(*ds.as_numpy_iterator())
    return np.stack(x), np.stack(y)


def _signals(path, n=60, length=40, seed=0):
    """Two-channel signals of three classes labelled 3, 7 and 9: a sine whose
    frequency is the class, channel 1 on another scale and offset."""
    rng = np.random.default_rng(seed)
    y = np.array([3, 7, 9] * (n // 3))
    t = np.linspace(0, 1, length)
    wave = np.sin(2 * np.pi * y[:, None] * t + rng.uniform(0, 6, (n, 1)))
    x = np.stack([wave, 50 * wave + 1000 + rng.normal(0, 1, (n, length))], axis=-1)
    np.savez(path, x=x, y=y)
    return x, y


@pytest.fixture
def small_clips(monkeypatch):
    """moving_digits at the 3D models' minimum size and few clips."""
    monkeypatch.setitem(data.MOVING_DIGITS, "clips", 24)


def test_npz_signals_keep_their_shape_split_and_scaled_by_the_training_split(tmp_path):
    x, y = _signals(tmp_path / "waves.npz")
    name = f"npz:{tmp_path / 'waves.npz'}"
    assert data.example_shape(name) == (40, 2)
    loaded = data.load(name, image_shape=(40, 2))
    assert loaded.class_names == ("3", "7", "9")
    assert loaded.sizes == {"train": 42, "validation": 9, "test": 9}  # 70/15/15 per class
    train_x, train_y = _arrays(loaded.splits["train"])
    assert train_x.shape == (42, 40, 2) and train_x.dtype == np.float32
    np.testing.assert_allclose(train_x.min(axis=(0, 1)), 0, atol=1e-6)  # per channel
    np.testing.assert_allclose(train_x.max(axis=(0, 1)), 1, atol=1e-6)
    # Each example is the file's, up to the one affine map per channel.
    row = np.flatnonzero([np.allclose(np.corrcoef(x[i, :, 1], train_x[0, :, 1])[0, 1], 1)
                          for i in range(len(x))])
    assert len(row) == 1 and "379"[train_y[0]] == str(y[row[0]])
    again = data.load(name, image_shape=(40, 2))
    for split in data.SPLITS:
        np.testing.assert_array_equal(_arrays(again.splits[split])[0], _arrays(loaded.splits[split])[0])


def test_npz_class_names_label_the_indices(tmp_path):
    path = tmp_path / "named.npz"
    np.savez(path, x=np.zeros((12, 8, 1), "uint8"), y=np.arange(12) % 2,
             class_names=np.array(["calm", "storm"]))
    loaded = data.load(f"npz:{path}", image_shape=(8, 1))
    assert loaded.class_names == ("calm", "storm")
    assert _arrays(loaded.cached["train"])[0].dtype == np.uint8  # pixels stay pixels


@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.zeros((6, 8, 1))), r"no array 'y' \(it holds x\)"),
    (dict(x=np.zeros((6, 8)), y=np.zeros(6, int)), r"x is float64 of shape \(6, 8\); expected .*"
                                                   r"one channel still needs its axis of 1"),
    (dict(x=np.zeros((6, 8, 1)), y=np.zeros(5, int)), r"y is int64 of shape \(5,\); expected one int"),
    (dict(x=np.full((6, 8, 1), np.nan), y=np.zeros(6, int)), r"48 NaN or infinite"),
    (dict(x=np.zeros((6, 8, 1)), y=np.arange(6) % 3, class_names=np.array(["a", "b"])),
     r"labels \[2\] are not indices into its 2 class_names"),
])
def test_npz_refuses_what_it_cannot_train_on(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        data.load(f"npz:{path}", image_shape=(8, 1))


def test_trace_is_ucr_trace_with_its_own_test_split():
    loaded = data.load("trace", image_shape=data.example_shape("trace"))
    assert data.example_shape("trace") == (275, 1)
    assert loaded.sizes == {"train": 85, "validation": 15, "test": 100}
    assert loaded.class_names == ("1", "2", "3", "4")
    root = importlib.util.find_spec("tslearn").submodule_search_locations[0]
    with np.load(os.path.join(root, ".cached_datasets", "Trace.npz")) as f:
        official_x, official_y = f["X_test"][:, :, 0], f["y_test"] - 1
    test_x, test_y = _arrays(loaded.splits["test"])
    np.testing.assert_array_equal(test_y, official_y)
    # One affine map per channel: the series correlate perfectly with the file's.
    assert min(np.corrcoef(a, b)[0, 1] for a, b in zip(test_x[:, :, 0], official_x)) > 0.9999
    train_x, _ = _arrays(loaded.splits["train"])
    validation_x, _ = _arrays(loaded.splits["validation"])
    both = np.concatenate([train_x, validation_x])
    assert both.min() >= 0 and np.isclose(train_x.min(), 0) and np.isclose(train_x.max(), 1)


def test_moving_digits_needs_the_order_of_the_frames():
    clips, labels = data.moving_digits(800, frames=8, size=16, seed=3)
    assert clips.shape == (800, 8, 16, 16, 1) and clips.dtype == np.uint8
    assert np.bincount(labels).tolist() == [200] * 4
    again, again_labels = data.moving_digits(800, frames=8, size=16, seed=3)
    np.testing.assert_array_equal(again, clips)
    np.testing.assert_array_equal(again_labels, labels)
    assert not np.array_equal(data.moving_digits(8, frames=8, size=16, seed=4)[0], clips[:8])

    def accuracy(features):
        flat = features.reshape(len(features), -1).astype("float32") / 255
        model = LogisticRegression(max_iter=500).fit(flat[:600], labels[:600])
        return model.score(flat[600:], labels[600:])

    assert accuracy(clips.mean(axis=1)) < 0.35  # averaged frames: chance is 0.25
    assert accuracy(clips[:, -1].astype("float32") - clips[:, 0]) > 0.9  # motion tells it


def test_moving_digits_source(small_clips):
    assert data.example_shape("moving_digits") == (32, 32, 32, 1)
    loaded = data.load("moving_digits", image_shape=(32, 32, 32, 1))
    assert loaded.class_names == data.MOVING_DIRECTIONS
    assert sum(loaded.sizes.values()) == 24 and min(loaded.sizes.values()) >= 4


def test_augmentations_of_another_rank_are_refused_by_name(tmp_path):
    _signals(tmp_path / "waves.npz")
    with pytest.raises(HarnessError, match=r"holds 1D signals of shape \(40, 2\): augmentation "
                                           r"flip, mixup works on 2D examples only, not 1D; "
                                           r"for 1D: none yet"):
        run(f"--dataset=npz:{tmp_path / 'waves.npz'}", "--model=resnet18", "--augment=flip,mixup",
            f"--model_dir={tmp_path / 'run'}")
    with pytest.raises(ValueError, match="augmentation crop works on 2D examples only, not 3D"):
        augment.build_augmenter(["crop"], image_shape=(8, 8, 8, 1))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (("--model=lenet5",), r"holds 1D signals of shape \(40, 2\); --model=lenet5 takes 2D images "
                          r"only. Models that take 1D signals: .*resnet18"),
    (("--model=resnet18", "--image_size=64"), r"--image_size=64 sets the height and width of 2D "
                                              r"images and does not apply"),
    (("--model=unet",), r"has no segmentation masks"),
])
def test_flags_that_do_not_fit_1d_data_are_refused(tmp_path, args, message):
    _signals(tmp_path / "waves.npz")
    with pytest.raises(HarnessError, match=message):
        run(f"--dataset=npz:{tmp_path / 'waves.npz'}", *args, f"--model_dir={tmp_path / 'run'}")


def test_a_1d_model_trains_on_npz_signals_and_exports_to_tflite(tmp_path):
    _signals(tmp_path / "waves.npz", n=90, length=64)
    result = run(f"--dataset=npz:{tmp_path / 'waves.npz'}", "--model=resnet18", "--epochs=2",
                 "--batch_size=16", "--precise_bn_batches=2", "--export=tflite",
                 f"--model_dir={tmp_path / 'run'}")
    assert result["model"].input_shape == (None, 64, 2)
    assert result["config"].image_size is None
    report = read_json(tmp_path / "run" / "eval.json")
    assert report["examples"] == 12  # 4 of each class's 30
    assert report["accuracy"] >= 0.75  # chance is 1/3; the sines' frequencies are plain to see
    with open(tmp_path / "run" / "flags.txt") as f:
        assert "--image_size" not in f.read()
    tflite = result["export"][0]["tflite"]
    assert tflite["parity"]["passed"] and not tflite["flex"]["ops"]
    assert keras.saving.load_model(tmp_path / "run" / "best.keras").input_shape == (None, 64, 2)


def test_a_3d_model_trains_on_moving_digits(tmp_path, small_clips):
    result = run("--dataset=moving_digits", "--model=resnet18", "--epochs=1", "--batch_size=8",
                 "--precise_bn_batches=1", f"--model_dir={tmp_path / 'run'}")
    assert result["model"].input_shape == (None, 32, 32, 32, 1)
    report = read_json(tmp_path / "run" / "eval.json")
    assert report["examples"] >= 4 and np.isfinite(report["loss"])


def test_3d_tflite_export_is_refused_before_training(tmp_path, small_clips):
    with pytest.raises(export.ExportError, match=r"LiteRT's CONV_3D kernel has no groups.*checked "
                                                 r"before training; --export=saved_model"):
        run("--dataset=moving_digits", "--model=mobilenet", "--model_args=alpha=0.25",
            "--export=tflite", f"--model_dir={tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()
