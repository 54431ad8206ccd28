"""Multi-worker training: two processes on 127.0.0.1, one TF_CONFIG, identical weights."""

import json
import socket
import subprocess

import keras
import numpy as np
import pytest

from harness_util import command, env, read_json


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_one_epoch_together_to_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    # ResNet-18 has BatchNorm: its moving statistics must agree too (synchronized BN).
    # Few steps: each synchronized BatchNorm is a collective on every step.
    run_dir = tmp_path / "run"
    args = ("--strategy=multi_worker", "--model=resnet18", "--image_size=32", "--classes=0,1",
            "--epochs=1", "--batch_size=64", "--seed=5", "--mixed_precision=float32",
            f"--model_dir={run_dir}")
    # Logs go to files: a worker blocked on a full pipe (64 KB) that nobody reads while
    # waiting for the other stalls both at the next collective.
    logs = [tmp_path / f"worker-{index}.log" for index in range(2)]
    processes = []
    for index, log in enumerate(logs):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        with open(log, "w") as out:
            processes.append(subprocess.Popen(
                command(*args), env=env(TF_CONFIG=json.dumps(config)), stdout=out,
                stderr=subprocess.STDOUT, text=True))
    for process in processes:
        process.wait(timeout=540)
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log.read_text()[-3000:]
    chief, worker = run_dir, run_dir / "worker-1"
    assert read_json(chief / "versions.json")["replicas"] == 2
    for run_dir in (chief, worker):
        assert read_json(run_dir / "checkpoints" / "state.json")["epoch"] == 1
    a = keras.saving.load_model(chief / "last.keras").get_weights()
    b = keras.saving.load_model(worker / "last.keras").get_weights()
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert read_json(chief / "eval.json")["examples"] > 0
