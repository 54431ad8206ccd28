"""Transfer learning: digits 0-4, then 5-9 with the backbone frozen, then fine-tuned."""

import math

import keras
import numpy as np

from training import data, transfer

from harness_util import run


class Snapshot(keras.callbacks.Callback):
    """Keeps a copy of every layer's weights at the end of epoch `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.weights = epoch, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.weights = {layer.name: [w.numpy().copy() for w in layer.weights]
                            for layer in self.model.layers}


def test_transfer_from_digits_0_4_to_5_9_with_a_frozen_backbone(tmp_path):
    source = run("--classes=0,1,2,3,4", "--epochs=2", "--seed=1", f"--model_dir={tmp_path / 'a'}")
    donor = keras.saving.load_model(tmp_path / "a" / "best.keras")
    snapshot = Snapshot(epoch=1)  # the end of the frozen phase
    target = run("--classes=5,6,7,8,9", f"--pretrained={tmp_path / 'a' / 'best.keras'}",
                 "--freeze_backbone", "--epochs=2", "--fine_tune_epochs=1", "--seed=2",
                 f"--model_dir={tmp_path / 'b'}", callbacks=[snapshot])
    model = target["model"]
    head = {layer.name for layer in transfer.head_layers(model, "lenet5")}
    weighted = [layer.name for layer in model.layers if layer.weights]
    frozen = [name for name in weighted if name not in head]
    assert head and frozen, (head, frozen)
    for name in frozen:  # bit-identical to the donor's after the frozen phase
        for before, after in zip(donor.get_layer(name).get_weights(), snapshot.weights[name]):
            np.testing.assert_array_equal(before, after)
    for name in head:  # a new head, trained
        donor_weights = donor.get_layer(name).get_weights()
        assert any(not np.array_equal(d, s) for d, s in zip(donor_weights, snapshot.weights[name]))
    fine_tuned = [name for name in frozen
                  if any(not np.array_equal(s, w) for s, w in
                         zip(snapshot.weights[name], model.get_layer(name).get_weights()))]
    assert fine_tuned  # the fine-tuning epoch moved the backbone
    assert target["eval"]["accuracy"] > 0.6
    assert source["eval"]["accuracy"] > 0.6


def test_pretrained_weights_file_loads_the_backbone_and_keeps_a_fresh_head(tmp_path):
    import zoo

    donor = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5)
    path = tmp_path / "donor.weights.h5"
    donor.save_weights(path)
    model = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5)
    fresh = model.get_layer("predictions").get_weights()
    head = transfer.head_layers(model, "resnet18")
    assert [layer.name for layer in head] == ["predictions"]
    transfer.load_pretrained(model, str(path), name="resnet18", head=head)
    for layer in model.layers:
        for mine, theirs in zip(layer.get_weights(), donor.get_layer(layer.name).get_weights()):
            if layer.name == "predictions":  # same shape, yet replaced: new classes
                continue
            np.testing.assert_array_equal(mine, theirs)
    for mine, new in zip(model.get_layer("predictions").get_weights(), fresh):
        np.testing.assert_array_equal(mine, new)


def test_resume_at_the_phase_boundary_starts_fine_tuning_with_a_fresh_optimizer(tmp_path):
    run("--classes=0,1,2", "--epochs=1", f"--model_dir={tmp_path / 'a'}")
    pretrained = f"--pretrained={tmp_path / 'a' / 'best.keras'}"
    args = ("--classes=3,4,5", pretrained, "--freeze_backbone", "--epochs=1",
            f"--model_dir={tmp_path / 'b'}")
    run(*args)
    frozen_phase = keras.saving.load_model(tmp_path / "b" / "last.keras").get_weights()
    result = run(*args, "--fine_tune_epochs=1", "--resume")
    train_size = data.count(data.load("digits", image_shape=(32, 32, 1),
                                      classes=["3", "4", "5"]).splits["train"])
    assert int(result["model"].optimizer.iterations) == math.ceil(train_size / 32)  # one epoch
    with open(tmp_path / "b" / "training.csv") as f:
        assert [line.split(",")[0] for line in f.read().split()[1:]] == ["1", "2"]
    fine_tuned = result["model"].get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(frozen_phase, fine_tuned))
