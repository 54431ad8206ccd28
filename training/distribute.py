"""tf.distribute strategies by name, the worker's role, synchronized BatchNorm."""

import json
import os

import keras
import tensorflow as tf

from training.errors import HarnessError


class StrategyError(HarnessError, RuntimeError):
    """The requested strategy cannot run here (no TF_CONFIG, no TPU)."""


def make_strategy(kind):
    """default, mirrored (local devices), multi_worker (TF_CONFIG) or tpu (TPU_NAME)."""
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise StrategyError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                             '({"cluster": {"worker": [host:port, ...]}, "task": {"type": '
                             '"worker", "index": i}}).')
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=os.environ.get("TPU_NAME", ""))
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise StrategyError(f"--strategy=tpu found no TPU (TPU_NAME="
                                f"{os.environ.get('TPU_NAME', '')!r}): {error}") from error
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {kind!r}; accepted: default, mirrored, multi_worker, tpu.")


def worker_role(strategy):
    """(is_chief, worker index): the chief writes the run's outputs."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True, 0
    task = json.loads(os.environ["TF_CONFIG"]).get("task", {})
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    task_type, index = task.get("type"), int(task.get("index", 0))
    if task_type == "chief":
        return True, index
    return task_type == "worker" and index == 0 and "chief" not in cluster, index


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def synchronize_batch_norm(model):
    """BatchNorm statistics over the global batch, so replicas keep identical moving stats."""
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
