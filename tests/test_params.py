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
    ("unet", {}, 31_030_658, None),
    ("unet", {"input_shape": (512, 512, 3), "num_classes": 1}, 31_031_745, None),
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
