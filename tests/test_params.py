"""Exact parameter counts at the default input, against shared/DESIGN.md."""

import math

import pytest

import zoo

# name, build kwargs, total params (model.count_params), trainable params or None
REFERENCE = [
    ("resnet18", {}, None, 11_689_512),
    ("resnet34", {}, None, 21_797_672),
    ("resnet50", {}, 25_636_712, None),
    ("resnet101", {}, 44_707_176, None),
    ("resnet152", {}, 60_419_944, None),
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


def trainable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs, total, train", REFERENCE,
                         ids=[f"{r[0]}{'-' + '-'.join(f'{k}={v}' for k, v in r[1].items()) if r[1] else ''}" for r in REFERENCE])
def test_parameter_count(name, kwargs, total, train):
    model = zoo.build(name, **kwargs)
    if total is not None:
        assert model.count_params() == total
    if train is not None:
        assert trainable(model) == train
