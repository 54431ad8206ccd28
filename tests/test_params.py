"""Exact parameter counts at the default input, against shared/DESIGN.md."""

import math

import pytest
from conftest import FULL_SIZE_MODELS

import zoo

pytestmark = FULL_SIZE_MODELS

# name, build kwargs, total params (model.count_params), trainable params or None
REFERENCE = [
    ("resnet18", {}, None, 11_689_512),
    ("resnet34", {}, None, 21_797_672),
    ("resnet50", {}, 25_636_712, None),
    ("resnet101", {}, 44_707_176, None),
    ("resnet152", {}, 60_419_944, None),
    ("googlenet", {}, 6_998_552, None),
    ("googlenet", {"aux_logits": True}, 13_378_280, None),
    ("lenet5", {}, 61_706, None),
    ("lenet5", {"c3_table": "paper"}, 60_806, None),
    ("alexnet", {}, 60_965_224, None),
    ("alexnet", {"groups": 1}, 62_378_344, None),
    ("vgg11", {}, 132_863_336, None),
    ("vgg13", {}, 133_047_848, None),
    ("vgg16", {}, 138_357_544, None),
    ("vgg19", {}, 143_667_240, None),
    ("unet", {}, 31_030_658, None),
    ("unet", {"input_shape": (512, 512, 3), "num_classes": 1}, 31_031_745, None),
    ("style_net", {}, 1_677_635, None),  # Johnson et al.: 1.68M
    ("mobilenet", {}, 4_253_864, None),
    ("mobilenet_v2", {}, 3_538_984, None),
    ("efficientnet_b0", {}, 5_330_571, None),
    ("efficientnet_b1", {}, 7_856_239, None),
    ("efficientnet_b2", {}, 9_177_569, None),
    ("efficientnet_b3", {}, 12_320_535, None),
    ("efficientnet_b4", {}, 19_466_823, None),
    ("efficientnet_b5", {}, 30_562_527, None),
    ("efficientnet_b6", {}, 43_265_143, None),
    ("efficientnet_b7", {}, 66_658_687, None),
]


def _row_id(row):
    name, kwargs = row[0], row[1]
    return "-".join([name] + [f"{k}={v}" for k, v in kwargs.items()])


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs, total, train", REFERENCE, ids=map(_row_id, REFERENCE))
def test_parameter_count(name, kwargs, total, train):
    if kwargs:
        model = zoo.build(name, **kwargs)
        counts = {"params": model.count_params(),
                  "trainable_params": sum(math.prod(w.shape) for w in model.trainable_weights)}
    else:  # the default build, as zoo.model_info (and so the README table) reports it
        counts = zoo.model_info(name)
    if total is not None:
        assert counts["params"] == total
    if train is not None:
        assert counts["trainable_params"] == train


@pytest.mark.slow
def test_readme_tables_are_generated_from_the_code():
    """The README's model table is what bench.readme makes of zoo.model_info now."""
    from bench import readme

    with open(readme.README) as f:
        current = f.read()
    assert readme.render(current) == current, "README.md is stale: run `python -m bench.readme`"
