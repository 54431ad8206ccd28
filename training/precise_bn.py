"""Precise BatchNorm: moving statistics re-estimated on training batches before evaluation.

A BatchNormalization layer normalizes with the statistics of the batch while
training and with its moving averages at inference. With momentum 0.99 (0.999
in MobileNetV2) the moving averages forget their initial values (mean 0,
variance 1) over hundreds to thousands of steps and lag behind the weights
after that, so a short run evaluates with statistics that describe no
network at all: training accuracy near 1, validation accuracy at chance.

As pycls (`compute_precise_bn_stats`) and detectron2/fvcore
(`update_bn_stats`) do, the statistics used for evaluation are instead
measured with the current weights: the network runs in training mode (each
BatchNorm normalizing with its batch's statistics, as in training) over a
number of training batches, without gradient updates, and each layer's
moving mean and variance become the mean and the variance of its input over
all those images: the average of the batch means, and the average of the
batch variances plus the variance of the batch means (pycls's estimate;
exact for the images seen, batches weighted by their sizes).

A probe model whose outputs are the inputs of the BatchNorm layers gives
those inputs in one pass; their moments are taken as the layers take them
(over every axis but the channel axis, in float32, over the global batch
when replicas synchronize BatchNorm). Frozen layers (`trainable=False`, in
inference mode in Keras 3, e.g. a transferred backbone) are left alone. The
layers' momentum is not changed: the zoo's models stay layer-for-layer
those of keras.applications.
"""

import keras
import numpy as np
import tensorflow as tf
from absl import logging


def trainable_batch_norms(model):
    """The BatchNormalization layers that normalize with batch statistics while training."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


class PreciseBatchNorm:
    """Sets `model`'s BatchNorm moving statistics to those of training batches.

    `update(batches, num_batches)` runs `num_batches` elements of the iterator
    `batches` (distributed (images, targets) pairs of `strategy`, or plain
    ones under the default strategy) through the model. The compiled pass is
    kept while the set of trainable BatchNorm layers stays the same.
    """

    def __init__(self, model, strategy=None):
        self.model = model
        self.strategy = strategy or tf.distribute.get_strategy()
        self._compiled = (None, None)  # (layers, their compiled pass)

    def layers(self):
        return trainable_batch_norms(self.model)

    def _probe(self, layers):
        """(a model from the batch's images to the BatchNorm layers' inputs, whether
        the batch's inputs are stacked into one batch first), or None.

        A Siamese network's BatchNorm layers sit in one embedding model nested in
        it and fed straight by each of the network's inputs: their statistics are
        those of all the images of every branch, so the probe runs the nested
        model on the inputs stacked along the batch."""
        outputs = [layer.input for layer in layers]
        try:
            return keras.Model(self.model.inputs, outputs), False
        except ValueError as error:  # a layer outside the model's own graph (a nested model)
            reason = error
        inputs = sorted(map(id, self.model.inputs))
        for shared in self.model.layers:
            fed = [tensor for node in getattr(shared, "_inbound_nodes", ()) for tensor in node.input_tensors]
            if isinstance(shared, keras.Model) and sorted(map(id, fed)) == inputs:
                try:
                    return keras.Model(shared.inputs, outputs), True
                except ValueError:
                    pass
        logging.warning("Precise BatchNorm skipped: the BatchNorm layers are not all in %s's own "
                        "graph nor in one model nested in it and fed by every input (%s).",
                        self.model.name, reason)
        return None

    def _make_pass(self, layers):
        probed = self._probe(layers)
        if probed is None:
            return None
        probe, stacked = probed
        strategy = self.strategy
        synchronized = strategy.num_replicas_in_sync > 1

        def replica_pass(images):
            if stacked:
                images = tf.concat(tf.nest.flatten(images), 0)
            inputs = [tf.cast(x, tf.float32) for x in tf.nest.flatten(probe(images, training=True))]
            axes = [[i for i in range(x.shape.rank) if i != layer.axis % x.shape.rank]
                    for layer, x in zip(layers, inputs)]
            count = tf.cast(tf.shape(tf.nest.flatten(images)[0])[0], tf.float32)  # pairs: a tuple
            if not synchronized:
                return count, [tf.nn.moments(x, a) for x, a in zip(inputs, axes)]
            # Global-batch moments as synchronized BatchNorm takes them (sums of x and x^2),
            # for every layer in one all-reduce rather than three per layer.
            local = [tf.reshape(count, [1])]
            for x, a in zip(inputs, axes):
                local += [tf.reshape(tf.cast(tf.size(x), tf.float32), [1]),
                          tf.reduce_sum(x, a), tf.reduce_sum(tf.square(x), a)]
            total = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.concat(local, 0))
            total = tf.split(total, [tensor.shape[0] for tensor in local])
            moments = []
            for elements, sums, squares in zip(total[1::3], total[2::3], total[3::3]):
                per_channel = elements / tf.cast(tf.size(sums), tf.float32)
                mean = sums / per_channel
                moments.append((mean, tf.maximum(squares / per_channel - tf.square(mean), 0.0)))
            return total[0][0], moments

        @tf.function(reduce_retracing=True)
        def compiled_pass(images):
            # Every replica holds the global count and moments (or there is one replica).
            return strategy.experimental_local_results(
                strategy.run(replica_pass, args=(images,)))[0]

        return compiled_pass

    def update(self, batches, num_batches):
        """Re-estimates the statistics from `num_batches` batches; returns the layers updated."""
        layers = self.layers()
        if not layers or num_batches <= 0:
            return []
        if self._compiled[0] != layers:
            self._compiled = (layers, self._make_pass(layers))
        compiled_pass = self._compiled[1]
        if compiled_pass is None:
            return []
        total = 0
        means = [0.0] * len(layers)
        squares = [0.0] * len(layers)  # sums of squared deviations from the running mean
        for _ in range(num_batches):
            images, _ = next(batches)
            count, moments = compiled_pass(images)
            count = int(count)
            new_total = total + count
            for i, (mean, variance) in enumerate(moments):
                mean, variance = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
                delta = mean - means[i]
                means[i] = means[i] + delta * (count / new_total)
                # Chan et al.'s pairwise update: stable in float64 whatever the offset.
                squares[i] = squares[i] + variance * count + delta ** 2 * (total * count / new_total)
            total = new_total
        for layer, mean, square in zip(layers, means, squares):
            layer.moving_mean.assign(np.asarray(mean, layer.moving_mean.dtype))
            layer.moving_variance.assign(np.asarray(square / total, layer.moving_variance.dtype))
        return layers
