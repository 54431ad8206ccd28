"""A run killed with SIGKILL resumes after its last completed epoch."""

import csv
import signal
import subprocess
import time

import pytest

from harness_util import cli, command, env, read_json


@pytest.mark.slow
def test_sigkill_after_epoch_2_resumes_at_epoch_3(tmp_path):
    run_dir = tmp_path / "run"
    # Small batches make epochs long enough to kill the run between epochs 2 and 3.
    args = ("--epochs=4", "--batch_size=4", "--seed=3", "--mixed_precision=float32",
            f"--model_dir={run_dir}")
    state_file = run_dir / "checkpoints" / "state.json"
    process = subprocess.Popen(command(*args), env=env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and process.poll() is None:
            if state_file.exists() and read_json(state_file)["epoch"] >= 2:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = read_json(state_file)["epoch"]
    assert killed_at == 2
    assert not list(run_dir.rglob(".tmp-*"))  # no half-written file was left in place

    result = cli(f"--flagfile={run_dir / 'flags.txt'}", "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Epoch 3/4" in result.stdout and "Epoch 1/4" not in result.stdout
    assert "resumed after epoch 2" in result.stdout
    assert read_json(state_file)["epoch"] == 4
    with open(run_dir / "training.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [1, 2, 3, 4]  # numbered as everywhere else, each once
    assert (run_dir / "eval.json").exists()
