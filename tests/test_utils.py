"""The project's shared helpers: atomic writes, "did you mean", versions."""

import json

import pytest

from zoo import utils


def test_atomic_path_replaces_only_on_success(tmp_path):
    path = tmp_path / "eval.json"
    utils.write_json(path, {"accuracy": 0.5, "shape": (1, 2)})
    with pytest.raises(RuntimeError):
        with utils.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write('{"half": ')
            raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"accuracy": 0.5, "shape": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]  # no .tmp-* left


def test_did_you_mean_names_close_choices_only():
    assert utils.did_you_mean("resnet05", ["resnet50", "vgg16"]) == " Did you mean resnet50?"
    assert utils.did_you_mean("zzz", ["resnet50"]) == ""


def test_versions_name_the_stack():
    facts = utils.versions()
    assert facts["packages"]["tensorflow"] and facts["packages"]["keras"] and facts["zoo"]
