"""Launched by torchrun in test_train_ddp.py: trains a few steps on its shard, then saves the
parameters it starts and ends with to <out>/start<r>.pt and <out>/rank<r>.pt."""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from trainkit import make_ctx, small_config  # noqa: E402

import sdt.train.experiment as experiment  # noqa: E402


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    real = experiment.evaluate
    evaluations = []

    def spy(model, samples, **kw):
        evaluations.append(1)
        if len(evaluations) == 2:  # after the validation: the test evaluation, final weights
            torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
                       out / f"rank{rank}.pt")
        return real(model, samples, **kw)

    real_optimizer = experiment.build_optimizer

    def spy_start(model, training):  # called once the model is built: the initial weights
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
                   out / f"start{rank}.pt")
        return real_optimizer(model, training)

    experiment.evaluate = spy
    experiment.build_optimizer = spy_start
    cfg = small_config(out, training={"num_epochs": 1, "batch_size": 2, "max_steps": 3})
    experiment.run(cfg, make_ctx(out, f"rank{rank}"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
