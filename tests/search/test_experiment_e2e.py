"""End to end on a micro model: `sdt-sweep search` trains its dependency once (through the
store), searches, logs a row per query and writes the artifacts the reports read."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sdt.cli import main

from searchkit import micro_train, search_cli

TRAIN = micro_train("fc_micro", {"name": "forecast", "history_length": 32, "horizon": 4,
                                  "num_samples_train": 64, "num_samples_val": 8,
                                  "num_samples_test": 8}, max_patches=16)
QUERIES = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("e2e")
    (root / "train.yaml").write_text(yaml.safe_dump({**TRAIN, "output_dir": str(root / "runs")}))
    search = {"train": "train.yaml", "experiment": {"name": "micro"},
              "search": {"method": "greedy", "max_new_tokens": 28},
              "evaluation": {"num_queries": QUERIES},
              "tracking": {"wandb": {"mode": "disabled"}}, "output_dir": str(root / "runs")}
    (root / "search.yaml").write_text(yaml.safe_dump(search))
    return root


def search(root, capsys, *sets):
    return search_cli(capsys, root / "search.yaml", root / "sdt.db", *sets)


def test_search_runs_every_method_family_and_writes_artifacts(setup, capsys):
    root = setup
    greedy = search(root, capsys)
    dts = search(root, capsys, "search.method=dts", "search.num_rollouts=4",
                 "search.expansion_k=2", "search.num_samples=2")
    sadt = search(root, capsys, "search.method=sadt", "search.num_rollouts=4",
                  "search.expansion_k=2")
    trains = list((root / "runs" / "train").iterdir())
    assert len(trains) == 1  # trained once, reused by every search

    for out in (greedy, dts, sadt):
        m = out["metrics"]
        assert m["num_queries"] == QUERIES and m["uses_oracle"] == 0
        for key in ("reward", "reward/spectral", "valid_rate", "spec_w1", "diversity",
                    "perplexity", "nfe", "tokens", "nodes", "max_depth", "time_s"):
            assert key in m, key
        run_dir = out["run_dir"]  # absolute: output_dir is
        history = [json.loads(l) for l in open(f"{run_dir}/metrics.jsonl")]
        preds = [json.loads(l) for l in open(f"{run_dir}/predictions.jsonl")]
        assert [h["step"] for h in history] == list(range(QUERIES)) and len(preds) == QUERIES
        assert m["reward"] == pytest.approx(np.mean([np.mean(p["rewards"]) for p in preds]))
        assert m["nfe"] == pytest.approx(np.mean([h["nfe"] for h in history]))
        with np.load(f"{run_dir}/psd.npz") as z:
            assert z["history"].shape == (QUERIES, len(z["freqs"])) == z["truth"].shape
    # greedy: one continuation, one distribution per generated token plus the prefill
    g_preds = [json.loads(l) for l in open(f"{greedy['run_dir']}/predictions.jsonl")]
    g_hist = [json.loads(l) for l in open(f"{greedy['run_dir']}/metrics.jsonl")]
    for p, h in zip(g_preds, g_hist):
        assert len(p["tokens"]) == 1
        n = len(p["tokens"][0])
        assert h["nfe"] == 1 + n - (1 if n == 28 else 0)  # the last step needs no further dist
    assert all(len(json.loads(l)["tokens"]) == 2 for l in open(f"{dts['run_dir']}/predictions.jsonl"))
    assert Path(sadt["run_dir"], "sadt_state.pt").is_file()


def test_bad_search_config_is_a_one_line_error(setup, capsys):
    rc = main(["search", str(setup / "search.yaml"), "--set", "search.alpha=0.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "search.alpha" in err and "Traceback" not in err


def test_continuation_logprobs_match_a_full_forward(setup, capsys):
    from sdt.config import load_config
    from sdt.config.schema import TrainConfig
    from sdt.data import build_dataset
    from sdt.model import load_trained, position_ids
    from sdt.search.experiment import continuation_logprobs
    from sdt.single import run_dir_for

    search(setup, capsys)  # the model exists once a search ran
    cfg = load_config(setup / "train.yaml", [], TrainConfig)
    model = load_trained(run_dir_for(cfg, "train")[1])
    sample = build_dataset(cfg.dataset, "test", 0)[0]
    eos = model.tokenizer.eos_token_id
    conts = [(5, 9, 11), (7,), (3, 4, 5, 6)]
    got = continuation_logprobs(model, sample, conts, eos, max_new_tokens=4)
    with torch.no_grad():
        embeds, mask = model.prompt_embeds([sample])
        for c, lp in zip(conts, got):
            ids = torch.tensor([list(c) + ([eos] if len(c) < 4 else [])])
            full = torch.cat([embeds, model.lm.get_input_embeddings()(ids)], 1)
            m = torch.cat([mask, torch.ones_like(ids)], 1)
            logits = model.lm(inputs_embeds=full, attention_mask=m,
                              position_ids=position_ids(m)).logits[0].float()
            T = embeds.shape[1]
            want = torch.log_softmax(logits[T - 1:T - 1 + ids.shape[1]], -1)
            want = want.gather(1, ids[0][:, None]).squeeze(1).numpy()
            np.testing.assert_allclose(lp, want, atol=1e-4)


def test_running_reward_is_reported_and_can_prune(setup, capsys, tmp_path):
    from sdt.config import load_config
    from sdt.config.search_run import SearchRunConfig
    from sdt.context import RunContext
    from sdt.runner import execute
    from sdt.search.experiment import run
    from sdt.single import run_dir_for

    search(setup, capsys)  # the model exists once a search ran
    cfg = load_config(setup / "search.yaml", [], SearchRunConfig)
    seen = []

    def pruner(step, value):
        seen.append((step, value))
        return step == 1

    ctx = RunContext("x", tmp_path, kind="search", pruner=pruner, progress=False,
                     deps={"train": run_dir_for(cfg.train, "train")[1]})
    outcome = execute(run, cfg, ctx)
    assert outcome.state == "pruned" and outcome.step == 1
    rewards = [json.loads(l)["reward"] for l in open(tmp_path / "metrics.jsonl")]
    assert [s for s, _ in seen] == [0, 1]
    assert [v for _, v in seen] == pytest.approx([rewards[0], (rewards[0] + rewards[1]) / 2])
