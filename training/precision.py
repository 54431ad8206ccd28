"""The mixed-precision policy: given, or `auto` = a mixed policy this machine supports
when it is clearly faster than float32, float32 otherwise."""

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


# A mixed policy is kept only when its step takes at most this share of
# float32's: its numerics are the riskier, and a closer call is within the
# noise of a few timed steps on a shared machine.
MARGIN = 0.9


def _train_step(model, images):
    optimizer = keras.optimizers.SGD(1e-6)
    inputs = images if len(model.inputs) == 1 else [images] * len(model.inputs)  # a pair model

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, tf.float32)))
                             for o in tf.nest.flatten(model(inputs, training=True))])
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    return step


def step_times(build_model, policies, input_shape, batch_size, rounds=5):
    """Seconds per training step of a fresh model under each policy: the best of
    `rounds` after a warm-up, the policies timed in turn so that a burst of
    load on a shared machine falls on all of them alike."""
    images = np.random.default_rng(0).uniform(size=(batch_size, *input_shape))
    images = tf.constant(images, tf.float32)
    steps = {}
    for policy in policies:
        keras.mixed_precision.set_global_policy(policy)
        steps[policy] = _train_step(build_model(), images)
        steps[policy]()  # trace and warm up
    keras.mixed_precision.set_global_policy("float32")
    seconds = {policy: [] for policy in policies}
    for _ in range(rounds):
        for policy, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[policy].append(time.perf_counter() - start)
    return {policy: min(times) for policy, times in seconds.items()}


def choose(policy, build_model, input_shape, batch_size, reproducible=False):
    """Returns the policy to use, timing the candidates when `policy` is "auto".

    auto keeps float32 unless a mixed policy's step takes at most MARGIN of
    float32's. When the choice must be reproducible (--deterministic, or
    several workers that must agree), auto means float32: timings differ
    between runs.
    """
    if policy != "auto":
        return policy
    candidates = supported_policies()
    if reproducible or len(candidates) == 1:
        logging.info("mixed_precision=auto: float32 (%s).", "a reproducible choice"
                     if reproducible else "no faster policy on this machine")
        return "float32"
    times = step_times(build_model, candidates, input_shape, min(batch_size, 16))
    keras.backend.clear_session()
    fastest = min(times, key=times.get)
    best = fastest if times[fastest] <= MARGIN * times["float32"] else "float32"
    logging.info("mixed_precision=auto: %s (ms per step: %s; a mixed policy needs <= %.0f%% "
                 "of float32's).", best, ", ".join(f"{p} {1000 * t:.1f}" for p, t in times.items()),
                 100 * MARGIN)
    return best
