"""Build a TSLM from a config, rebuild one from a checkpoint's hyper-parameters, load a
trained one."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from sdt.model import lm as lm_lib
from sdt.model.tokenizer import build_tokenizer, to_json, wrap
from sdt.model.tslm import TSLM


def hparams_from_config(config) -> dict:
    """What a checkpoint needs to rebuild the model (plain data, no pydantic)."""
    m = config.model
    return {
        "llm_id": m.llm_id,
        "tiny": m.tiny.model_dump(),
        "encoder": m.encoder.model_dump(),
        "projector": m.projector,
        "patch_size": config.training.patch_size,
        "lora": m.lora.model_dump(),
        "freeze_lm": m.freeze_lm,
        "gradient_checkpointing": m.gradient_checkpointing,
        "ignore_series": m.ignore_series,
        "tokenizer_json": None,
    }


def build_from_hparams(hparams: dict, texts: Iterable[str] = (), *, base_lm=None,
                       tokenizer=None, training: bool = True) -> TSLM:
    """A TSLM from ``hparams``. The ``tiny`` LM uses ``hparams["tokenizer_json"]`` when set,
    else a tokenizer learned from ``texts`` (stored back into ``hparams``). ``base_lm`` and
    ``tokenizer`` replace the LM (used by ``init_from``: LoRA then goes on top of it)."""
    hparams = dict(hparams)
    is_tiny = hparams["llm_id"] == lm_lib.TINY
    if base_lm is not None:
        lm = base_lm
    elif is_tiny:
        tokenizer = (wrap(hparams["tokenizer_json"]) if hparams.get("tokenizer_json")
                     else build_tokenizer(texts))
        lm = lm_lib.build_tiny_lm(hparams["tiny"], tokenizer)
    else:
        lm, tokenizer = lm_lib.load_pretrained(hparams["llm_id"])
    if is_tiny:
        hparams["tokenizer_json"] = to_json(tokenizer)
    if hparams["lora"]["enabled"]:
        lm = lm_lib.apply_lora(lm, hparams["lora"])
    if training:
        lm_lib.configure_training(lm, freeze=hparams["freeze_lm"],
                                  lora_enabled=hparams["lora"]["enabled"],
                                  checkpointing=hparams["gradient_checkpointing"],
                                  is_tiny=is_tiny)
    return TSLM(lm, tokenizer, hparams)


def build_model(config, texts: Iterable[str] = ()) -> TSLM:
    """A fresh TSLM for ``config`` (a :class:`~sdt.config.schema.TrainConfig`). ``texts``
    (training prompts and answers) shape the ``tiny`` tokenizer's vocabulary."""
    return build_from_hparams(hparams_from_config(config), texts)


def checkpoint_path(path: str | Path, which: str = "best") -> Path:
    """``path`` itself if it is a file, else ``<run_dir>/checkpoints/<which>.pt``."""
    path = Path(path)
    if path.is_file():
        return path
    candidate = path / "checkpoints" / f"{which}.pt"
    if not candidate.is_file():
        raise FileNotFoundError(f"no checkpoint {candidate} (is {path} a training run directory?)")
    return candidate


def load_trained(path: str | Path, device: str = "cpu", which: str = "best",
                 training: bool = False) -> TSLM:
    """The trained TSLM of a run directory (its ``best.pt`` by default) or of a checkpoint
    file, with its tokenizer and hyper-parameters, in eval mode on ``device``."""
    file = checkpoint_path(path, which)
    ckpt = torch.load(file, map_location="cpu", weights_only=False)
    model = build_from_hparams(ckpt["hparams"], training=training)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        from sdt.errors import UserError

        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise UserError(f"{file} does not fit this version of sdt's model ({first}); train it "
                        "again (sdt-sweep run ... --rerun, or delete the run directory)") from exc
    return model.to(device).eval()
