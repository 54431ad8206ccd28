"""MobileNet v1/v2 and EfficientNet: compound scaling, rounding, options, weights."""

import contextlib

import h5py
import keras
import numpy as np
import pytest
from conftest import FULL_SIZE_MODELS, photos
from keras.src.legacy.saving import legacy_h5_format
from keras.src.utils import file_utils

import zoo
from zoo import efficientnet as eff

# shared/DESIGN.md: width, depth, resolution, dropout of the released B0-B7
PUBLISHED = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2), "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3), "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4), "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5), "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}
# The released models are not phi = 0..7 of the paper's rule (tensorflow/tpu#390);
# their widths and resolutions follow it within 5% at these phi; their depths lie
# up to 15% under it (B5-B7).
EFFECTIVE_PHI = {"efficientnet_b0": 0, "efficientnet_b1": 0.5, "efficientnet_b2": 1, "efficientnet_b3": 2,
                 "efficientnet_b4": 3.5, "efficientnet_b5": 5, "efficientnet_b6": 6, "efficientnet_b7": 7}


def test_registered_coefficients_are_the_published_ones():
    assert eff.EFFICIENTNETS == PUBLISHED
    for name, (_, _, resolution, _) in PUBLISHED.items():
        assert zoo.get_entry(name).input_shape == (resolution, resolution, 3)


def test_compound_scaling_follows_the_paper():
    assert eff.compound_scaling(0) == (1.0, 1.0, 224)
    width, depth, resolution = eff.compound_scaling(1)
    assert (round(width, 6), round(depth, 6), resolution) == (1.1, 1.2, 258)
    # depth * width^2 * resolution^2 ~= 2: FLOPs double per unit of phi.
    assert 1.9 < eff.ALPHA * eff.BETA ** 2 * eff.GAMMA ** 2 < 2.0


@pytest.mark.parametrize("name", PUBLISHED)
def test_compound_scaling_gives_the_published_coefficients(name):
    width, depth, resolution, _ = PUBLISHED[name]
    rule_width, rule_depth, rule_resolution = eff.compound_scaling(EFFECTIVE_PHI[name])
    assert rule_width == pytest.approx(width, rel=0.05)
    assert rule_resolution == pytest.approx(resolution, rel=0.05)
    assert 0.99 < rule_depth / depth < 1.16


@pytest.mark.parametrize("filters, width, expected", [
    (32, 1.0, 32), (32, 1.1, 32), (32, 1.2, 40), (32, 2.0, 64),  # B0-B7 stems
    (1280, 1.1, 1408), (1280, 1.4, 1792), (1280, 1.8, 2304), (1280, 2.0, 2560),  # tops
    (16, 1.8, 32), (40, 1.4, 56), (112, 1.1, 120),
    (10, 1.1, 16),  # 11 rounds to 8, 27% under: one divisor up
    (16, 0.3, 8),  # never below the divisor
])
def test_round_filters(filters, width, expected):
    assert eff.round_filters(filters, width) == expected


@pytest.mark.parametrize("repeats, depth, expected", [(1, 1.0, 1), (1, 1.1, 2), (2, 1.2, 3), (3, 1.4, 5),
                                                      (4, 3.1, 13), (3, 1.0, 3), (4, 2.6, 11)])
def test_round_repeats(repeats, depth, expected):
    assert eff.round_repeats(repeats, depth) == expected


def blocks(model):
    return sum(layer.name.endswith("_project_bn") for layer in model.layers)


def conv_filters(model, name):
    return model.get_layer(name).filters


def test_phi_half_builds_a_consistent_network():
    model = eff.efficientnet(phi=0.5)
    width, depth, resolution = eff.compound_scaling(0.5)
    assert resolution == 240 and model.input_shape == (None, 240, 240, 3)
    assert blocks(model) == sum(eff.round_repeats(row[1], depth) for row in eff.B0_BLOCKS) == 23
    assert conv_filters(model, "top_conv") == eff.round_filters(1280, width) == 1344
    assert model.output_shape == (None, 1000) and model.get_layer("top_dropout").rate == 0.2


@pytest.mark.slow
def test_phi_8_builds_a_consistent_network():
    model = eff.efficientnet(phi=8, include_top=False)
    width, depth, resolution = eff.compound_scaling(8)
    assert resolution == 685 and model.input_shape == (None, 685, 685, 3)
    assert model.output_shape == (None, 22, 22, eff.round_filters(1280, width))
    assert blocks(model) == sum(eff.round_repeats(row[1], depth) for row in eff.B0_BLOCKS)
    assert conv_filters(model, "stem_conv") == eff.round_filters(32, width) == 72


def test_explicit_coefficients_build_the_registered_network():
    shape = (32, 32, 3)
    registered = zoo.build("efficientnet_b2", input_shape=shape)
    explicit = eff.efficientnet(width=1.1, depth=1.2, resolution=260, input_shape=shape, dropout=0.3)
    assert [w.shape for w in explicit.weights] == [w.shape for w in registered.weights]
    assert [layer.name for layer in explicit.layers] == [layer.name for layer in registered.layers]


@pytest.mark.parametrize("kwargs, message", [
    (dict(phi=1, width=1.2), r"give phi or \(width, depth, resolution\), not both"),
    (dict(phi="b3"), r"phi must be a finite number; got phi='b3'"),
    (dict(phi=-20), r"resolution must be an int >= 32; got resolution=14 \(phi=-20\)"),
    (dict(width=0), r"width must be a number > 0; got width=0"),
    (dict(phi=1, weights="imagenet"), r"has no published ImageNet weights"),
])
def test_efficientnet_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        eff.efficientnet(**kwargs)
    with pytest.raises(TypeError, match=r"unknown argument\(s\) alpha; it accepts: phi, width"):
        eff.efficientnet(phi=1, alpha=2)


@pytest.mark.parametrize("name, kwargs, message", [
    ("mobilenet", dict(alpha=0), r"mobilenet: alpha \(width multiplier\) must be a number >= 0.03125.*got alpha=0"),
    ("mobilenet", dict(alpha=0.01), r"must be a number >= 0.03125 .*got alpha=0.01"),
    ("mobilenet", dict(alpha="1.0"), r"got alpha='1.0'"),
    ("mobilenet", dict(depth_multiplier=1.5), r"depth_multiplier must be a positive int; got depth_multiplier=1.5"),
    ("mobilenet_v2", dict(alpha=-1), r"mobilenet_v2: alpha \(width multiplier\) must be a number > 0; got alpha=-1"),
    ("mobilenet", dict(alpha=0.6, weights="imagenet"),
     r"ImageNet weights are published for alpha in \(0.25, 0.5, 0.75, 1.0\) with depth_multiplier=1; got alpha=0.6"),
    ("mobilenet", dict(depth_multiplier=2, weights="imagenet"), r"got alpha=1.0, depth_multiplier=2"),
    ("mobilenet_v2", dict(alpha=0.6, weights="imagenet"),
     r"published for alpha in \(0.35, 0.5, 0.75, 1.0, 1.3, 1.4\); got alpha=0.6"),
    ("efficientnet_b0", dict(drop_connect_rate=1.5), r"drop_connect_rate must be a number in \[0, 1\)"),
])
def test_family_arguments_are_checked(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build(name, input_shape=(32, 32, 3), **kwargs)


def test_alpha_scales_widths():
    assert conv_filters(zoo.build("mobilenet", alpha=0.25, input_shape=(32, 32, 3)), "conv_pw_13") == 256
    v2 = zoo.build("mobilenet_v2", alpha=0.35, input_shape=(32, 32, 3))
    assert [conv_filters(v2, n) for n in ("Conv1", "block_16_project", "Conv_1")] == [16, 112, 1280]
    assert conv_filters(zoo.build("mobilenet_v2", alpha=1.3, input_shape=(32, 32, 3)), "Conv_1") == 1664
    deeper = zoo.build("mobilenet", depth_multiplier=2, input_shape=(32, 32, 3))
    assert deeper.get_layer("conv_dw_1").output.shape[-1] == 64


@pytest.mark.parametrize("name, channels", [
    ("mobilenet", [64, 128, 256, 512, 1024]),
    ("mobilenet_v2", [16, 24, 32, 96, 1280]),
    ("efficientnet_b0", [16, 24, 40, 112, 1280]),
])
def test_features_at_strides_2_to_32(name, channels):
    model = zoo.build(name, features_only=True, input_shape=(64, 64, 3))
    assert [tuple(o.shape[1:]) for o in model.outputs] == [
        (64 // stride, 64 // stride, c) for stride, c in zip((2, 4, 8, 16, 32), channels)]


@pytest.mark.parametrize("name, kwargs, size, file_name", [
    ("mobilenet", dict(alpha=0.5), 160, "mobilenet_5_0_160_tf_no_top.h5"),
    ("mobilenet", dict(alpha=0.25, include_top=True), 128, "mobilenet_2_5_128_tf.h5"),
    ("mobilenet_v2", dict(alpha=1.4), 96, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_96_no_top.h5"),
    # no file for 64x64: keras' 224 file, with a warning
    ("mobilenet_v2", dict(alpha=0.35), 64, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"),
    ("efficientnet_b3", {}, 64, "efficientnetb3_notop.h5"),
])
def test_imagenet_weights_resolve_keras_file_names(name, kwargs, size, file_name, monkeypatch):
    fetched = []

    def offline(fname, origin, **_):
        fetched.append((fname, origin))
        raise Exception("no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    fallback = name.startswith("mobilenet") and f"_{size}_" not in file_name
    with pytest.warns(UserWarning, match="loading those for 224x224") if fallback else contextlib.nullcontext():
        with pytest.raises(RuntimeError, match=f"weights='/path/to/{file_name}'"):
            zoo.build(name, weights="imagenet", input_shape=(size, size, 3), **{"include_top": False, **kwargs})
    assert fetched[0][0] == file_name and fetched[0][1].endswith("/" + file_name)


@pytest.mark.slow
@pytest.mark.parametrize("name, anchor, preprocessing, kwargs, early", [
    ("mobilenet_v2", keras.applications.MobileNetV2, keras.applications.mobilenet_v2, dict(alpha=0.5),
     "block_2_project_BN"),
    ("efficientnet_b0", keras.applications.EfficientNetB0, keras.applications.efficientnet, {},
     "block2a_project_bn"),
], ids=["mobilenet_v2", "efficientnet_b0"])
def test_imagenet_path_loads_legacy_h5_as_keras_does(name, anchor, preprocessing, kwargs, early, tmp_path,
                                                     monkeypatch):
    """weights='imagenet' end to end without network: one legacy .h5 file (the
    format keras publishes, matched by layer order) served to both builders."""
    shape = (96, 96, 3)
    source = anchor(weights=None, input_shape=shape, include_top=False, **kwargs)
    rng = np.random.default_rng(0)  # distinct BN statistics, so a swapped layer shows
    source.set_weights([w * rng.uniform(0.9, 1.1, w.shape) if w.dtype == "float32" else w
                        for w in source.get_weights()])
    path = tmp_path / "published.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    serve = lambda *args, **kw: str(path)  # noqa: E731
    monkeypatch.setattr(keras.utils, "get_file", serve)
    monkeypatch.setattr(file_utils, "get_file", serve)
    reference = anchor(weights="imagenet", input_shape=shape, include_top=False, **kwargs)
    model = zoo.build(name, weights="imagenet", input_shape=shape, include_top=False, **kwargs)
    pixels = photos(96)
    batch = preprocessing.preprocess_input(pixels.copy())
    for layer in (early, None):
        expected = np.asarray(upto(reference, layer)(batch))
        scale = np.abs(expected).max()
        # 0-255 pixels in: the zoo model normalises them itself.
        np.testing.assert_allclose(upto(model, layer)(pixels), expected, rtol=1e-5, atol=1e-5 * scale)
    if name.startswith("efficientnet"):  # the Rescaling keras adds for its files is there too
        expected = np.asarray(upto(reference, early)(batch))
        assert np.abs(np.asarray(upto(source, early)(batch)) - expected).max() > 0.1 * np.abs(expected).max()


def upto(model, layer):
    """`model` up to the output of `layer` (the whole model for None)."""
    return model if layer is None else keras.Model(model.input, model.get_layer(layer).output)


@pytest.mark.parametrize("name, paper_madds", [
    ("mobilenet", 569e6),  # Howard et al., table 8
    ("mobilenet_v2", 300e6),  # Sandler et al., table 4
    ("efficientnet_b0", 0.39e9),  # Tan & Le, table 2 (their FLOPs are multiply-adds)
])
@FULL_SIZE_MODELS
def test_model_info_matches_the_papers(name, paper_madds):
    info = zoo.model_info(name)
    assert info["flops"] / 2 == pytest.approx(paper_madds, rel=0.02)
    assert info["imagenet_weights"] and info["input_shape"] == (224, 224, 3) and info["min_size"] == 32
