"""DDP: two CPU processes (gloo) keep identical parameters while training on different data."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.mark.slow
def test_two_gloo_processes_stay_identical(tmp_path):
    worker = Path(__file__).parent / "ddp_worker.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29517", str(worker), str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = torch.load(tmp_path / "start0.pt")
    assert all(torch.equal(start[k], torch.load(tmp_path / "start1.pt")[k]) for k in start)
    assert any(not torch.equal(a[k], start[k]) for k in a)  # it did train
