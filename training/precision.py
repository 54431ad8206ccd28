"""The mixed-precision policy: given, or `auto` = the fastest this machine supports."""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging


def supported_policies():
    """float32, plus the mixed policies this machine computes natively."""
    policies = ["float32"]
    try:
        with open("/proc/cpuinfo") as f:
            cpu = set(f.read().split())
    except OSError:
        cpu = set()
    if tf.config.list_physical_devices("GPU") or cpu & {"avx512_fp16", "amx_fp16"}:
        policies.append("mixed_float16")
    if cpu & {"avx512_bf16", "amx_bf16"} or tf.config.list_physical_devices("TPU"):
        policies.append("mixed_bfloat16")
    return policies


def step_time(build_model, input_shape, batch_size, steps=3):
    """Seconds per training step of a fresh model (after one warm-up step)."""
    model = build_model()
    optimizer = keras.optimizers.SGD(1e-6)
    images = np.random.default_rng(0).uniform(size=(batch_size, *input_shape))
    images = tf.constant(images, tf.float32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, tf.float32)))
                             for o in tf.nest.flatten(model(images, training=True))])
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def choose(policy, build_model, input_shape, batch_size, reproducible=False):
    """Returns the policy to use, timing the candidates when `policy` is "auto".

    When the choice must be reproducible (--deterministic, or several workers
    that must agree), auto means float32: timings differ between runs.
    """
    if policy != "auto":
        return policy
    candidates = supported_policies()
    if reproducible or len(candidates) == 1:
        logging.info("mixed_precision=auto: float32 (%s).", "a reproducible choice"
                     if reproducible else "no faster policy on this machine")
        return "float32"
    times = {}
    for candidate in candidates:
        keras.mixed_precision.set_global_policy(candidate)
        times[candidate] = step_time(build_model, input_shape, min(batch_size, 16))
        keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    best = min(times, key=times.get)
    logging.info("mixed_precision=auto: %s (ms per step: %s).", best,
                 ", ".join(f"{p} {1000 * t:.1f}" for p, t in times.items()))
    return best
