"""The language model: the ``tiny`` preset (a small Llama built from a transformers config and
a local tokenizer) or any causal LM by hub id / local directory; then LoRA, freezing and
gradient checkpointing as the config asks."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

TINY = "tiny"


def build_tiny_lm(tiny: dict, tokenizer):
    """A randomly initialised Llama-style LM sized by ``model.tiny.*``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=tiny["hidden_size"],
        intermediate_size=tiny["intermediate_size"], num_hidden_layers=tiny["num_layers"],
        num_attention_heads=tiny["num_heads"], num_key_value_heads=tiny["num_heads"],
        max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config)


def load_pretrained(llm_id: str):
    """``(lm, tokenizer)`` from a hub id or a local directory written by ``save_pretrained``.
    A tokenizer without a pad token pads with EOS (the pad positions are masked anyway)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(llm_id)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    lm = AutoModelForCausalLM.from_pretrained(llm_id, dtype="float32")
    return lm, tokenizer


def apply_lora(lm, lora: dict):
    """Wrap ``lm`` with peft LoRA adapters; only the adapters train."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                        target_modules=list(lora["target_modules"]), task_type="CAUSAL_LM")
    return get_peft_model(lm, config)


def merge_lora(lm):
    """The plain LM with any LoRA adapters merged into its weights (kept, not dropped)."""
    return lm.merge_and_unload() if hasattr(lm, "merge_and_unload") else lm


def configure_training(lm, *, freeze: bool, lora_enabled: bool, checkpointing: bool,
                       is_tiny: bool):
    """Freeze what should not train and switch on gradient checkpointing."""
    if freeze:
        if is_tiny and not lora_enabled:
            log.warning("model.freeze_lm with the randomly initialised tiny LM: it cannot learn")
        for name, p in lm.named_parameters():
            if "lora_" not in name:
                p.requires_grad_(False)
    if checkpointing:
        kwargs = {"use_reentrant": False}
        if hasattr(lm, "activation_checkpointing_enable"):  # the name in transformers >= 5.x
            lm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        lm.config.use_cache = False
    return lm
