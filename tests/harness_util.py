"""Running the training harness from tests: in this process, or as the CLI in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
from absl import flags
from tensorflow.python.framework import config as tf_config

from training import train
from training.config import RunConfig

REPO = Path(__file__).resolve().parents[1]
# float32: the mixed-precision probe costs time and the tests compare exact numbers;
# no export and no augmentation: tests/test_training.py checks both once, on the
# default run.
FAST = ("--mixed_precision=float32", "--export=", "--augment=")


def config(*args):
    """The RunConfig that flag-style strings describe ("--epochs=2", "--resume",
    "--nodeterministic"), built directly: no global flag parsing (validators are the
    CLI's; `parse` tests them)."""
    return RunConfig.from_flag_lines((*FAST, *args))


def run(*args, callbacks=()):
    """train.train(config(*args)); global TF state restored after."""
    try:
        return train.train(config(*args), callbacks=callbacks)
    finally:
        keras.mixed_precision.set_global_policy("float32")
        tf_config.disable_op_determinism()


def parse(*args):
    """Parses flags as the CLI would (validators included), then resets them."""
    FLAGS = flags.FLAGS
    FLAGS.unparse_flags()
    try:
        FLAGS(["zoo-train", *args])
    finally:
        FLAGS.unparse_flags()


def env(**extra):
    """The environment for a CLI subprocess: this checkout first on the path. The
    harness quiets TensorFlow itself unless TF_CPP_MIN_LOG_LEVEL is set: not here."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(extra)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return environment


def command(*args):
    return [sys.executable, "-m", "training.train", *args]


def cli(*args, cwd=None, timeout=600, **extra_env):
    """Runs `python -m training.train args` to the end; returns the CompletedProcess."""
    return subprocess.run(command(*args), cwd=cwd, env=env(**extra_env), capture_output=True,
                          text=True, timeout=timeout)


def read_json(path):
    with open(path) as f:
        return json.load(f)
