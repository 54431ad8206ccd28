"""One custom training loop for every tf.distribute strategy.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy, so the harness runs
its own step with `strategy.run` inside a `tf.function` (the default strategy
included: one code path), and drives Keras callbacks through
`keras.callbacks.CallbackList` (progress bar, CSV, TensorBoard, checkpoints).
"""

import math

import keras
import numpy as np
import tensorflow as tf

from training import precise_bn
from training.errors import HarnessError
from training.tasks import get_task


class NonFiniteLoss(HarnessError, RuntimeError):
    """The training loss became NaN or infinite; training stopped before the epoch ended."""

    def __init__(self, epoch, step, value):
        super().__init__(f"the training loss became {value} at epoch {epoch + 1}, batch {step + 1}")
        self.epoch, self.step, self.value = epoch, step, value


class Trainer:
    """Trains and evaluates `model` under `strategy`.

    `task` (training/tasks) gives the per-example loss and the metrics; the
    loop only averages, weights and applies them. A multi-output model (GoogLeNet's side branches) is
    trained on the sum of its outputs' losses weighted by `loss_weights`; its
    metrics, and evaluation, use the first (main) output only.
    """

    def __init__(self, model, *, strategy, task, num_classes, loss_weights=None,
                 label_smoothing=0.0):
        self.model = model
        self.strategy = strategy
        outputs = len(model.outputs)
        self.loss_weights = tuple(loss_weights) if loss_weights else (1.0,) * outputs
        if len(self.loss_weights) != outputs:
            raise ValueError(f"{model.name} has {outputs} outputs but {len(self.loss_weights)} "
                             f"loss weights {self.loss_weights}.")
        self.task = task = get_task(task)  # a name or a Task
        self.label_smoothing = label_smoothing
        with strategy.scope():
            self.metrics = [keras.metrics.Mean(name="loss")] + list(task.metrics(num_classes))
        self._eval_step = None
        self._train_step = (None, None)  # (optimizer, its compiled step)
        self.precise_bn = precise_bn.PreciseBatchNorm(model, strategy)

    # --- per-replica computations ---------------------------------------------

    def _per_example_loss(self, targets, output):
        return self.task.per_example_loss(targets, output, label_smoothing=self.label_smoothing)

    def _update_metrics(self, targets, main_output, per_example_loss):
        self.metrics[0].update_state(per_example_loss)
        for metric in self.metrics[1:]:
            metric.update_state(targets, tf.cast(main_output, tf.float32))

    def _make_train_step(self, optimizer):
        model = self.model

        def replica_step(images, targets):
            with tf.GradientTape() as tape:
                outputs = tf.nest.flatten(model(images, training=True))
                per_example = tf.add_n([w * self._per_example_loss(targets, out)
                                        for w, out in zip(self.loss_weights, outputs)])
                loss = tf.nn.compute_average_loss(per_example)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
                scaled = optimizer.scale_loss(loss)
            variables = model.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
            self._update_metrics(targets, outputs[0], per_example)

        @tf.function(reduce_retracing=True)
        def train_step(images, targets):
            self.strategy.run(replica_step, args=(images, targets))

        return train_step

    def _make_eval_step(self):
        model = self.model
        keep = self.task.whole_split_metrics

        def replica_step(images, targets):
            main = tf.nest.flatten(model(images, training=False))[0]
            self._update_metrics(targets, main, self._per_example_loss(targets, main))
            return self.task.kept(targets, tf.cast(main, tf.float32)) if keep else None

        @tf.function(reduce_retracing=True)
        def eval_step(images, targets):
            kept = self.strategy.run(replica_step, args=(images, targets))
            return self.strategy.gather(kept, axis=0) if keep else None

        return eval_step

    # --- loops -------------------------------------------------------------------

    def results(self, prefix=""):
        return {prefix + m.name: float(m.result()) for m in self.metrics}

    def _reset(self):
        for metric in self.metrics:
            metric.reset_state()

    def evaluate(self, dataset, prefix=""):
        """Loss and metrics of the main output over `dataset` (a tf.data.Dataset), with the
        task's `split_metrics` over all of it when the task has them."""
        return self.predict(dataset, prefix)[0]

    def predict(self, dataset, prefix=""):
        """(evaluate's results, targets, main outputs): the targets and float32 main
        outputs of every example of `dataset` as numpy arrays (as the task's `kept` reduces
        them) when the task keeps them
        (`whole_split_metrics`), else None and None."""
        if self._eval_step is None:
            self._eval_step = self._make_eval_step()
        self._reset()
        kept = [self._eval_step(images, targets)
                for images, targets in self.strategy.experimental_distribute_dataset(dataset)]
        results = self.results(prefix)
        if not self.task.whole_split_metrics:
            return results, None, None
        # Each of the two may be a structure of tensors (detection keeps several).
        targets, outputs = (tf.nest.map_structure(
            lambda *parts: np.concatenate([keras.ops.convert_to_numpy(p) for p in parts]),
            *[batch[i] for batch in kept]) for i in (0, 1))
        results.update({prefix + name: float(value)
                        for name, value in self.task.split_metrics(targets, outputs).items()})
        return results, targets, outputs

    def train_step(self, optimizer):
        """The compiled step for `optimizer`, traced once and reused across fit calls."""
        if self._train_step[0] is not optimizer:
            self._train_step = (optimizer, self._make_train_step(optimizer))
        return self._train_step[1]

    def fit(self, train, validation, *, optimizer, epochs, steps, initial_epoch=0, callbacks=(),
            verbose=1, bn_batches=None, bn_steps=0):
        """Trains epochs `initial_epoch` .. `epochs - 1` of `steps` batches each, all
        drawn from one iterator over `train` (repeating batches, as
        `data.batches(training=True)` gives); returns the last epoch's logs.

        At each epoch's end, before validation and the callbacks (which save
        the model), the BatchNorm moving statistics are re-estimated on
        `bn_steps` batches of `bn_batches` (repeating training batches; see
        training/precise_bn.py). Models without trainable BatchNorm skip it.

        Raises NonFiniteLoss as soon as the loss is NaN or infinite, before
        the epoch's callbacks run, so the last checkpoint stays the last good one.
        """
        model = self.model
        model.optimizer = optimizer  # saved with checkpoints; read by callbacks
        train_step = self.train_step(optimizer)
        batches = iter(self.strategy.experimental_distribute_dataset(train))
        bn_iterator = None  # made at first use: none for a model without BatchNorm
        callback_list = keras.callbacks.CallbackList(
            list(callbacks), add_progbar=verbose > 0, model=model, verbose=verbose, epochs=epochs,
            steps=steps)
        model.stop_training = False
        logs = {}
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self._reset()
            callback_list.on_epoch_begin(epoch)
            for step in range(steps):
                images, targets = next(batches)
                callback_list.on_train_batch_begin(step)
                train_step(images, targets)
                logs = self.results()
                if not math.isfinite(logs["loss"]):
                    callback_list.on_train_end(logs)
                    raise NonFiniteLoss(epoch, step, logs["loss"])
                callback_list.on_train_batch_end(step, logs)
            if bn_batches is not None and bn_steps > 0 and self.precise_bn.layers():
                if bn_iterator is None:
                    bn_iterator = iter(self.strategy.experimental_distribute_dataset(bn_batches))
                self.precise_bn.update(bn_iterator, bn_steps)
            logs = {**logs, **self.evaluate(validation, prefix="val_"),
                    "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate))}
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
        return logs

