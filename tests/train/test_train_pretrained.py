"""Any other ``llm_id`` goes through ``from_pretrained``: a tiny model saved to a directory
trains, evaluates and reloads."""

import torch
from trainkit import make_ctx, small_config

from sdt.model import load_trained
from sdt.model.lm import build_tiny_lm
from sdt.model.tokenizer import build_tokenizer
from sdt.train.experiment import run


def test_saved_model_directory_trains_and_evaluates(tmp_path):
    tokenizer = build_tokenizer(["Options: (a) increasing (b) decreasing (c) flat. Answer:"])
    lm = build_tiny_lm({"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                        "intermediate_size": 64}, tokenizer)
    lm_dir = tmp_path / "saved_lm"
    lm.save_pretrained(lm_dir)
    tokenizer.save_pretrained(lm_dir)
    cfg = small_config(tmp_path, model={"llm_id": str(lm_dir)}, training={"num_epochs": 1})
    metrics = run(cfg, make_ctx(tmp_path))
    assert {"test_accuracy", "test_loss", "steps"} <= metrics.keys() and metrics["steps"] == 4
    model = load_trained(tmp_path / "run")
    assert model.hparams["llm_id"] == str(lm_dir) and model.hparams["tokenizer_json"] is None
    assert model.lm.config.hidden_size == 32
    trained = torch.load(tmp_path / "run/checkpoints/best.pt", weights_only=False)["model"]
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())


def test_checkpoint_of_another_model_layout_is_a_clear_error(tmp_path):
    """A checkpoint whose weights no longer fit the model code (an older sdt) says so and
    says how to fix it, instead of a state-dict traceback."""
    import pytest

    from sdt.errors import UserError
    cfg = small_config(tmp_path, training={"num_epochs": 1})
    run(cfg, make_ctx(tmp_path))
    path = tmp_path / "run/checkpoints/best.pt"
    ckpt = torch.load(path, weights_only=False)
    ckpt["model"]["encoder.removed_layer.weight"] = torch.zeros(2)
    torch.save(ckpt, path)
    with pytest.raises(UserError, match=r"best.pt does not fit .*removed_layer.*--rerun"):
        load_trained(tmp_path / "run")
    # a checkpoint written before the encoder had series features still loads as trained
    ckpt["model"] = {k: v for k, v in ckpt["model"].items()
                     if not k.startswith(("encoder.globals", "encoder.removed"))}
    ckpt["hparams"]["encoder"].pop("series_features")
    torch.save(ckpt, path)
    assert load_trained(tmp_path / "run").encoder.globals is None
