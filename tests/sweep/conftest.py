import os

import pytest

from sweep_files import HERE


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A scratch working folder: executions counted, W&B off, the test kinds importable by
    worker processes (PYTHONPATH), and the current directory (so ``runs/sdt.db`` lands here)."""
    monkeypatch.setenv("SDT_EXECUTION_LOG", str(tmp_path / "executions.log"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE),
                                                      os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(tmp_path)
    return tmp_path
