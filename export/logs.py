"""Quiet by default: TensorFlow's C++ start-up lines (oneDNN, CUDA drivers on a
CPU machine, CPU features) and its converter's INFO lines drown the harness's
own output. `-v 0` / `--verbosity=0` (absl's flag) or an explicit
TF_CPP_MIN_LOG_LEVEL brings them back.

This module imports nothing heavy: `export` imports it before TensorFlow, and
`training` through it (training exports its runs, so export is the lower layer
and neither imports the other's library in a cycle).
"""

import contextlib
import os
import sys


def verbose_requested(argv=None):
    """True when the command line asks for absl's verbosity (-v N, --verbosity=N)."""
    argv = sys.argv[1:] if argv is None else argv
    return any(a in ("-v", "--verbosity") or a.startswith(("-v=", "--verbosity="))
               for a in argv)


@contextlib.contextmanager
def stderr_silenced():
    """Sends file descriptor 2 to /dev/null for the block: C++ code writes there
    directly, before (or outside) any logging setting can reach it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow():
    """Imports TensorFlow with its start-up lines silenced and its later C++
    INFO/WARNING lines off, unless the user asked for them or TF is loaded."""
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ or verbose_requested():
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe, which logs an error on a CPU machine
