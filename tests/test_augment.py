"""Augmentation layers (training/augment.py): shape and dtype kept, identity
outside training, PCA statistics, seeded tf.data pipelines, serialization,
MixUp/CutMix labels."""

import functools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import photos as _photos

from training import augment

PER_IMAGE = [n for n in augment.AUGMENTATIONS if n not in augment.BATCH_AUGMENTATIONS]
SIZE = 32


@functools.lru_cache(maxsize=None)
def _cached(size, channels):
    return _photos(size, channels)


def photos(size=32, channels=3):
    """The conftest photos, resized once per module (anti-aliased resizing is slow)."""
    return _cached(size, channels).copy()


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", PER_IMAGE)
def test_each_augmentation_keeps_shape_and_dtype_and_is_identity_outside_training(name, channels):
    images = photos(SIZE, channels)
    aug = augment.build_augmenter([name], image_shape=images.shape[1:], seed=0)
    out = aug(images, training=True)
    assert out.shape == images.shape and out.dtype == "float32"
    assert not np.allclose(out, images), f"{name} left every image unchanged"
    single = aug(images[0], training=True)  # one image, as in a map before batch()
    assert single.shape == images.shape[1:] and single.dtype == "float32"
    np.testing.assert_array_equal(aug(images, training=False), images)
    np.testing.assert_array_equal(aug.layers[0](images[0], training=False), images[0])


def test_unknown_or_repeated_names_are_rejected_with_the_accepted_list():
    with pytest.raises(ValueError, match=r"'blur'.*flip, crop, resized_crop, pca"):
        augment.build_augmenter("flip,blur", image_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="'blur'"):
        augment.build_batch_augmenter(["mixup", "blur"], num_classes=3)
    with pytest.raises(ValueError, match="'flip' is listed more than once"):
        augment.build_augmenter(["flip", "flip"], image_shape=(8, 8, 3))


def test_no_names_give_an_identity_augmenter_and_no_batch_augmenter():
    images = photos(SIZE)
    aug = augment.build_augmenter("", image_shape=images.shape[1:])
    assert isinstance(aug, keras.Sequential) and not aug.layers
    np.testing.assert_array_equal(aug(images), images)
    assert augment.build_batch_augmenter("flip,crop", num_classes=10) is None


def test_pad_crop_cuts_a_window_of_the_zero_padded_image():
    images = photos(SIZE)
    out = augment.RandomPadCrop(padding=4, seed=1)(images).numpy()
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    for image, window in zip(padded, out):
        assert any(np.array_equal(image[r:r + SIZE, c:c + SIZE], window)
                   for r in range(9) for c in range(9))


def test_pad_crop_fill_modes_fill_the_border_as_named():
    images = photos(SIZE)
    padded = {"reflect": np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="symmetric"),
              "wrap": np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="wrap"),
              "nearest": np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="edge")}
    for mode, source in padded.items():
        out = augment.RandomPadCrop(padding=4, fill_mode=mode, seed=2)(images).numpy()
        for image, window in zip(source, out):
            assert any(np.array_equal(image[r:r + SIZE, c:c + SIZE], window)
                       for r in range(9) for c in range(9)), mode
    with pytest.raises(ValueError, match="fill_mode='symmetric'.*constant, reflect, wrap, nearest"):
        augment.RandomPadCrop(fill_mode="symmetric")


def test_flip_mirrors_some_images_and_keeps_the_others():
    images = np.concatenate([photos(SIZE)] * 4)
    out = augment.HorizontalFlip(seed=0)(images).numpy()
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(m or k for m, k in zip(mirrored, kept))
    assert 0 < sum(mirrored) < len(images)


def test_resized_crop_of_the_whole_image_is_the_image():
    images = photos(SIZE)
    whole = augment.RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=1)(images)
    np.testing.assert_allclose(whole, images, atol=1e-3)
    zoomed = augment.RandomResizedCrop(scale=(0.1, 0.1), seed=1)(images)
    assert np.abs(zoomed - images).mean() > 5


def test_bilinear_sampler_and_elastic_warp():
    images = tf.constant(photos(SIZE))
    grid = np.mgrid[:SIZE, :SIZE].astype("float32")
    rows, cols = (np.broadcast_to(g, (4, SIZE, SIZE)) for g in grid)
    np.testing.assert_allclose(augment._bilinear_sample(images, rows, cols), images, atol=1e-4)
    shifted = augment._bilinear_sample(images, rows, cols + 1.0).numpy()
    np.testing.assert_allclose(shifted[:, :, :-1], images[:, :, 1:], atol=1e-4)
    half = augment._bilinear_sample(images, rows, cols + 0.5).numpy()
    np.testing.assert_allclose(half[:, :, :-1], (images[:, :, 1:] + images[:, :, :-1]) / 2, atol=1e-3)
    # A still field leaves the image alone; a strong one moves pixels locally.
    np.testing.assert_allclose(augment.ElasticWarp(alpha=0.0, seed=1)(images), images, atol=1e-4)
    warped = augment.ElasticWarp(alpha=40.0, sigma=4.0, seed=1)(images).numpy()
    assert np.abs(warped - images).mean() > 3
    assert warped.min() >= images.numpy().min() - 1e-3 and warped.max() <= images.numpy().max() + 1e-3


@pytest.mark.parametrize("eigen", [augment.IMAGENET_PCA, "photos"])
def test_pca_shift_offsets_have_the_stated_covariance(eigen):
    if eigen == "photos":
        eigen = augment.pca_eigen(photos(SIZE) / 255.0)
    eigval, eigvec = eigen
    sigma, count = 0.1, 20000
    base = np.repeat(photos(SIZE)[:, :4, :4] / 255.0, count // 4, axis=0)
    layer = augment.PCAColorShift(eigval, eigvec, sigma=sigma, value_range=(0, 1), seed=3)
    offsets = layer(base).numpy() - base
    per_image = offsets[:, 0, 0, :]
    np.testing.assert_allclose(offsets, np.broadcast_to(per_image[:, None, None], offsets.shape), atol=1e-6)
    expected = eigvec @ np.diag((sigma * eigval) ** 2) @ eigvec.T
    empirical = np.cov(per_image, rowvar=False)
    np.testing.assert_allclose(empirical, expected, atol=0.05 * np.abs(expected).max())
    # Along each eigenvector the offset has standard deviation sigma * eigval.
    np.testing.assert_allclose((per_image @ eigvec).std(axis=0), sigma * eigval, rtol=0.05)
    # In 0-255 pixels the same shift is 255 times larger.
    big = augment.PCAColorShift(eigval, eigvec, sigma=sigma, seed=3)(base * 255) - base * 255
    np.testing.assert_allclose(big, offsets * 255, rtol=1e-3, atol=1e-2)


def test_pca_eigen_recovers_a_known_covariance():
    rng = np.random.default_rng(0)
    eigvec, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    eigval = np.array([0.02, 0.005, 0.001])
    cov = eigvec @ np.diag(eigval) @ eigvec.T
    pixels = rng.multivariate_normal([0.5, 0.4, 0.3], cov, size=200 * 16 * 16)
    images = pixels.reshape(200, 16, 16, 3)
    got_val, got_vec = augment.pca_eigen(images)
    np.testing.assert_allclose(got_val, eigval, rtol=0.03)
    np.testing.assert_allclose(np.abs(got_vec.T @ eigvec), np.eye(3), atol=0.02)  # same axes up to sign
    # Batches give the same answer as one array.
    batched_val, _ = augment.pca_eigen(np.split(images, 4))
    np.testing.assert_allclose(batched_val, got_val, rtol=1e-5)
    with pytest.raises(ValueError, match="divide 0-255 images by 255"):
        augment.pca_eigen(photos(SIZE))


def test_grayscale_pca_uses_the_grey_variance():
    rgb = photos(SIZE) / 255.0
    grey = (rgb @ np.array([0.2989, 0.5870, 0.1140]))[..., None]
    from_rgb = augment.gray_eigen(augment.pca_eigen(rgb))
    direct = augment.pca_eigen(grey)
    np.testing.assert_allclose(from_rgb[0], direct[0], rtol=1e-3)
    np.testing.assert_array_equal(from_rgb[1], [[1.0]])
    # build_augmenter turns the (default ImageNet) RGB decomposition into the grey one.
    layer = augment.build_augmenter(["pca"], image_shape=(SIZE, SIZE, 1)).layers[0]
    np.testing.assert_allclose(layer.eigval, augment.gray_eigen(augment.IMAGENET_PCA)[0])
    with pytest.raises(ValueError, match="3-channel eigen-decomposition but the images have 1 channels"):
        augment.PCAColorShift()(grey)


def _pipeline(seed, batched, names=PER_IMAGE):
    """Real photos through the augmenter in a tf.data map (sequential: the
    layers share one seeded random stream), two epochs."""
    aug = augment.build_augmenter(names, image_shape=(SIZE, SIZE, 3), seed=seed)
    ds = tf.data.Dataset.from_tensor_slices(np.concatenate([photos(SIZE)] * 2))
    if batched:
        ds = ds.batch(4).map(lambda x: aug(x, training=True))
    else:
        ds = ds.map(lambda x: aug(x, training=True)).batch(4)
    assert ds.element_spec.shape[1:] == (SIZE, SIZE, 3), "the static image shape was lost"
    return [np.concatenate(list(ds.as_numpy_iterator())) for _ in range(2)]


def test_pipeline_is_deterministic_under_a_seed():
    batched = _pipeline(7, batched=True)
    for a, b in zip(batched, _pipeline(7, batched=True)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(batched[0], batched[1]), "both epochs got the same augmentation"
    assert not np.allclose(batched[0], _pipeline(8, batched=True)[0]), "another seed gave the same augmentation"
    some = ["flip", "crop", "pca", "elastic"]  # mapped per image, before batch()
    for a, b in zip(_pipeline(7, batched=False, names=some), _pipeline(7, batched=False, names=some)):
        np.testing.assert_array_equal(a, b)


def test_augmenter_saves_and_loads_with_safe_mode(tmp_path):
    images = photos(SIZE)
    aug = augment.build_augmenter(PER_IMAGE, image_shape=images.shape[1:], seed=11,
                                  pca_eigen=augment.pca_eigen(images / 255.0))
    path = str(tmp_path / "augment.keras")
    aug.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in aug.layers]
    configs = [json.dumps(layer.get_config(), sort_keys=True) for layer in aug.layers]
    assert [json.dumps(layer.get_config(), sort_keys=True) for layer in loaded.layers] == configs
    np.testing.assert_allclose(loaded(images, training=True), aug(images, training=True), atol=1e-4)
    np.testing.assert_array_equal(loaded(images[0], training=False), images[0])


def test_augmenter_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        aug = augment.build_augmenter(PER_IMAGE, image_shape=(SIZE, SIZE, 3), seed=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert aug(photos(SIZE), training=True).dtype == "float32"


@pytest.mark.parametrize("names", ["mixup", "cutmix", "flip,mixup,cutmix"])
def test_mixup_and_cutmix_mix_labels_that_sum_to_one(names):
    images = np.concatenate([photos(SIZE)] * 4)
    labels = np.arange(16) % 4
    mixer = augment.build_batch_augmenter(names, num_classes=4, seed=2)
    crop = augment.build_augmenter(names + ",resized_crop", image_shape=images.shape[1:], seed=2)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    ds = ds.map(lambda x, y: (crop(x, training=True), y)).map(mixer)
    mixed_images, mixed = next(iter(ds))
    assert mixed_images.shape == images.shape and mixed.shape == (16, 4)
    np.testing.assert_allclose(tf.reduce_sum(mixed, axis=1), np.ones(16), atol=1e-5)
    assert np.all(mixed.numpy() >= 0)
    assert not np.allclose(mixed, np.eye(4)[labels]), "no label was mixed"
    # One-hot labels in, eagerly: the same contract.
    out_images, out = mixer(images, np.eye(4, dtype="float32")[labels])
    np.testing.assert_allclose(tf.reduce_sum(out, axis=1), np.ones(16), atol=1e-5)
    with pytest.raises(ValueError, match="after batch"):
        mixer(images[0], np.eye(4, dtype="float32")[0])
    with pytest.raises(ValueError, match="num_classes=4"):
        mixer(images, np.eye(5, dtype="float32")[labels])
