"""The time-series LM (OpenTSLM-SP style): patch encoder + projector + causal LM.

Public API::

    from sdt.model import build_model, load_trained, TSLM, Decoding

    model = load_trained("runs/train/tiny-<hash>")      # best.pt, its tokenizer and hparams,
                                                        # eval mode, no hub access for `tiny`
    model.generate(samples, max_new_tokens=8)           # greedy, KV cache -> list[str]

    # Continue decoding yourself (the search): token ids in, logits out, cache reused.
    state = model.prefill(samples)        # Decoding: cache, attention_mask [B,T],
                                          #   next_position [B], logits [B,V], hidden [B,H]
    state = state.select([0, 0, 0, 1])   # copy rows (branching); the cache is copied
    state = model.extend(state, token_ids)   # one token per row, ids [B]; mutates state.cache
    # NFE: prefill of B prompts = B distributions; each extend of B rows = B distributions.

- ``build_model(config, texts=())`` -> TSLM for a TrainConfig (``texts`` shape the tiny
  tokenizer). ``load_trained(path_or_run_dir, device="cpu", which="best")``.
- ``TSLM.tokenizer``: a PreTrainedTokenizerFast (``tiny``: built locally, byte-level BPE with
  digits, ``-``, ``.``, ``,`` and the option markers ``(a)``..``(d)`` as single tokens;
  <bos>, <eos>, <pad>); ``TSLM.lm`` the
  transformers causal LM (peft-wrapped when LoRA is on); ``TSLM.hparams`` what rebuilds it.
- ``TSLM.prompt_embeds(samples) -> (inputs_embeds [B,T,H], attention_mask [B,T])``, LEFT
  padded: <bos> pre_prompt, per series "<series_text> It has mean M and std S:" + its projected
  patches (padded patches dropped), post_prompt. ``TSLM.forward(samples)`` -> mean loss over
  the answer tokens and <eos>. The answer is " " + sample.answer followed by <eos>.
- Positions: ``position_ids(mask) = cumsum(mask) - 1`` (padding does not shift positions);
  ``Decoding.next_position`` is the position the next token had in training; ``extend`` uses it.
"""

from sdt.model.build import build_model, checkpoint_path, hparams_from_config, load_trained
from sdt.model.tslm import TSLM, Decoding, position_ids

__all__ = ["TSLM", "Decoding", "build_model", "checkpoint_path", "hparams_from_config",
           "load_trained", "position_ids"]
