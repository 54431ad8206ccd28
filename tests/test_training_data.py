"""Data sources of the harness: digits, tfds (mocked), a folder of class sub-folders, shapes."""

import logging

import numpy as np
import pytest
import tensorflow_datasets as tfds
from skimage import data as skdata
from skimage import io as skio

from training import data

from harness_util import read_json, run


def _arrays(ds):
    images, targets = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.stack(targets)


def test_digits_fixed_stratified_split_resized_to_the_model_input():
    first = data.load("digits", image_shape=(32, 32, 1))
    sizes = {s: data.count(d) for s, d in first.splits.items()}
    assert sum(sizes.values()) == 1797 and sizes["train"] > 1200
    images, labels = _arrays(first.splits["test"])
    assert images.shape[1:] == (32, 32, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    assert set(np.unique(labels)) == set(range(10))
    again = data.load("digits", image_shape=(28, 28, 3))  # the same split, other input
    images3, labels3 = _arrays(again.splits["test"])
    np.testing.assert_array_equal(labels3, labels)
    assert images3.shape[1:] == (28, 28, 3)
    np.testing.assert_allclose(images3[..., 0], images3[..., 2])  # grey -> RGB


def test_classes_are_filtered_and_relabelled():
    subset = data.load("digits", image_shape=(32, 32, 1), classes=["5", "6", "7", "8", "9"])
    assert subset.num_classes == 5
    _, labels = _arrays(subset.splits["train"])
    assert set(np.unique(labels)) == set(range(5))
    full = data.load("digits", image_shape=(32, 32, 1))
    _, all_labels = _arrays(full.splits["train"])
    assert len(labels) == np.sum(all_labels >= 5)


def test_batches_are_one_hot_and_shuffled_reproducibly():
    digits = data.load("digits", image_shape=(32, 32, 1))
    make = lambda: data.batches(digits.splits["train"], batch_size=16, num_classes=10,  # noqa
                                training=True, seed=3)
    images, targets = next(iter(make()))
    assert images.shape == (16, 32, 32, 1) and targets.shape == (16, 10)
    np.testing.assert_array_equal(targets.numpy().sum(axis=1), 1)
    again, _ = next(iter(make()))
    np.testing.assert_array_equal(images, again)


def test_batches_map_pixels_to_the_model_input_range():
    """Every zoo model normalises its own input: the harness feeds it 0-255 pixels."""
    import zoo

    assert {zoo.get_entry(name).input_range for name in zoo.list_models()} == {(0.0, 255.0)}
    digits = data.load("digits", image_shape=(32, 32, 1))
    unit, _ = next(iter(data.batches(digits.splits["test"], batch_size=64, num_classes=10)))
    wide, _ = next(iter(data.batches(digits.splits["test"], batch_size=64, num_classes=10,
                                     input_range=zoo.get_entry("lenet5").input_range)))
    assert float(np.max(unit)) == 1.0
    np.testing.assert_allclose(wide, unit * 255.0, rtol=1e-6)


def test_tfds_mnist_through_mock_data_adapts_grey_to_rgb():
    with tfds.testing.mock_data(num_examples=8):
        mnist = data.load("mnist", image_shape=(32, 32, 3))
        images, labels = _arrays(mnist.splits["train"])
        assert mnist.num_classes == 10 and len(images) > 0
        assert images.shape[1:] == (32, 32, 3)
        assert labels.max() < 10
        batch = data.load_dataset("mnist", image_shape=(32, 32, 1), split="test", batch_size=4)
        images, targets = next(iter(batch))
        assert images.shape == (4, 32, 32, 1) and targets.shape == (4, 10)


def test_tfds_oxford_pets_segmentation_masks_through_mock_data():
    with tfds.testing.mock_data(num_examples=4):
        pets = data.load("oxford_iiit_pet", image_shape=(32, 32, 3), task="segmentation")
        images, masks = _arrays(pets.splits["train"])
    assert pets.num_classes == 3
    assert images.shape[1:] == (32, 32, 3) and masks.shape[1:] == (32, 32)
    assert masks.dtype == np.int32 and 0 <= masks.min() and masks.max() <= 2


def test_shapes_segmentation_dataset():
    shapes = data.load("shapes", image_shape=(32, 32, 1), task="segmentation")
    images, masks = _arrays(shapes.splits["validation"])
    assert images.shape == (64, 32, 32, 1) and masks.shape == (64, 32, 32)
    assert set(np.unique(masks)) == {0, 1, 2}
    with pytest.raises(ValueError, match="no segmentation masks"):
        data.load("digits", image_shape=(32, 32, 1), task="segmentation")


PHOTOS = {"animal": ("chelsea", "cat", "astronaut", "camera"),  # camera is grey
          "thing": ("coffee", "rocket", "brick", "coins")}  # brick and coins are grey


@pytest.fixture
def image_folder(tmp_path):
    """Real scikit-image photos in two class folders, plus one corrupt and one non-image file."""
    tmp_path = tmp_path / "photos"  # runs go beside it, not into it as a class
    for label, names in PHOTOS.items():
        (tmp_path / label).mkdir(parents=True)
        for index, name in enumerate(names):
            for copy in range(3):
                extension = "png" if copy else "jpg"
                skio.imsave(tmp_path / label / f"{name}{copy}.{extension}", getattr(skdata, name)(),
                            check_contrast=False)
    (tmp_path / "thing" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "thing" / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_counts_and_skips_corrupt_images(image_folder, caplog):
    with caplog.at_level(logging.WARNING):
        folder = data.load(f"folder:{image_folder}", image_shape=(32, 32, 3))
    assert folder.num_classes == 2
    total = sum(data.count(d) for d in folder.splits.values())
    assert total == 24  # 8 photos x 3 copies; broken.jpg and notes.txt skipped
    warnings = caplog.text
    assert "skipped 1 of 25 image(s)" in warnings and "broken.jpg" in warnings
    assert "notes.txt" in warnings
    images, _ = _arrays(folder.splits["train"])
    assert images.shape[1:] == (32, 32, 3) and np.isfinite(images).all()


def test_a_folder_without_classes_for_a_model_that_ignores_labels(image_folder, caplog):
    # Every image under the root, class folders or not, as one class; the same skips.
    for index, name in enumerate(("moon", "rocket")):
        skio.imsave(image_folder / f"loose{index}.png", getattr(skdata, name)(), check_contrast=False)
    with caplog.at_level(logging.WARNING):
        splits, class_names = data.unlabelled_folder_source(str(image_folder))
    assert class_names == ("image",)
    sizes = {s: data.count(d) for s, d in splits.items()}
    assert sizes == {"train": 20, "validation": 3, "test": 3}  # 24 + 2 loose, 80/10/10
    assert "skipped 1 of 27 image(s)" in caplog.text and "notes.txt" in caplog.text
    with pytest.raises(data.DataError, match="is not a directory"):
        data.unlabelled_folder_source(str(image_folder / "nowhere"))


def test_training_on_a_folder(image_folder, tmp_path):
    result = run(f"--dataset=folder:{image_folder}", "--epochs=1", "--batch_size=8",
                 f"--model_dir={tmp_path / 'run'}")
    report = read_json(tmp_path / "run" / "eval.json")
    assert report["examples"] == data.count(
        data.load(f"folder:{image_folder}", image_shape=(32, 32, 1)).splits["test"])
    assert result["model"].output.shape[-1] == 2


# --- what a new user meets: tfds in a fresh install, tiny or malformed folders --------------

class TinyTfds(tfds.core.GeneratorBasedBuilder):
    """A real tfds dataset, prepared offline in the test's data_dir (no mocks)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(names=["even", "odd"])}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 40), "test": self._generate_examples(1, 10)}

    def _generate_examples(self, seed, n):
        rng = np.random.default_rng(seed)
        for i in range(n):
            yield i, {"image": rng.integers(0, 255, (8, 8, 1), dtype=np.uint8), "label": i % 2}


def test_tfds_builders_find_their_own_code_in_this_install():
    """tfds reaches its builders' files through importlib_resources, which it
    declares only for Python < 3.9: every real tfds download crashed in a fresh
    install. The mocked tests never reach this code."""
    assert tfds.builder("mnist").code_path.exists()


def test_a_prepared_tfds_dataset_loads_without_mocks(tmp_path):
    TinyTfds(data_dir=str(tmp_path)).download_and_prepare()
    tiny = data.load("tiny_tfds", image_shape=(16, 16, 1), data_dir=str(tmp_path), download=False)
    assert tiny.class_names == ("even", "odd")
    assert tiny.sizes == {"train": 36, "validation": 4, "test": 10}  # validation carved from train


def test_an_unprepared_tfds_dataset_offline_is_one_clear_error(tmp_path):
    with pytest.raises(data.DataError, match=r"'mnist' is not prepared in .*--nodownload.*"
                                             r"tfds build mnist --data_dir=DIR"):
        data.load("mnist", image_shape=(32, 32, 1), data_dir=str(tmp_path), download=False)


def _folder(root, counts):
    """Class folders of real photos: {class name: number of images}."""
    photos = ("chelsea", "coffee", "astronaut", "rocket", "camera")
    for label, n in counts.items():
        (root / label).mkdir()
        for i in range(n):
            skio.imsave(root / label / f"{i}.png", getattr(skdata, photos[i % len(photos)])(),
                        check_contrast=False)
    return f"folder:{root}"


def test_a_tiny_folder_still_has_every_split(tmp_path):
    """3 images a class used to round validation and test to nothing (accuracy 0.0 of 0)."""
    tiny = data.load(_folder(tmp_path, {"a": 3, "b": 3}), image_shape=(16, 16, 3))
    assert tiny.sizes == {"train": 2, "validation": 2, "test": 2}


@pytest.mark.parametrize("counts, message", [
    ({"only": 5}, r"found 1 class folder\(s\) .*only.*needs at least 2"),
    ({"a": 5, "b": 2}, r"class 'b' has 2 image\(s\); each class needs at least 3"),
    ({"a": 5, "b": 0}, r"found 1 class folder\(s\)"),
])
def test_folders_that_cannot_be_trained_or_evaluated_are_refused(tmp_path, counts, message):
    with pytest.raises(data.DataError, match=message):
        data.load(_folder(tmp_path, counts), image_shape=(16, 16, 3))


def test_empty_class_folders_are_left_out_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        folder = data.load(_folder(tmp_path, {"a": 4, "empty": 0, "b": 4}), image_shape=(16, 16, 3))
    assert folder.class_names == ("a", "b")
    assert "left out 1 class folder(s) with no readable images: empty" in caplog.text
    _, labels = _arrays(folder.splits["train"])
    assert set(np.unique(labels)) == {0, 1}


def test_classes_leaving_one_class_are_refused():
    with pytest.raises(data.DataError, match="has 1 class.*at least 2"):
        data.load("digits", image_shape=(32, 32, 1), classes=["3"])
