"""The ``tiny`` preset's tokenizer: byte-level BPE learned from a given corpus, built locally
(no hub) and saved inside every checkpoint.

Digits, the minus sign and punctuation (``.``, ``,``, ``(``, ``)``) are always single tokens,
so numbers are written and generated digit by digit. The option markers ``(a)``..``(d)`` are
one token each: the answer token is then the very token that stands before its option's text,
which a small LM learns to copy far sooner than a letter between brackets. Byte-level means every string encodes (no unknown token) and decodes back exactly.
"""

from __future__ import annotations

from typing import Iterable

SPECIAL = {"pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"}

OPTION_MARKERS = ("(a)", "(b)", "(c)", "(d)")

# Always in the corpus so that a tokenizer built without data still has the usual words.
BASE_CORPUS = (
    "The time series has mean and std. Which option is correct? Answer: (a) (b) (c) (d) "
    "increasing decreasing flat trend volatility season seasonal outlier spike none high low "
    "standing walking running badminton forecast the next values history activity "
    "0 1 2 3 4 5 6 7 8 9 - . , : ; ( ) [ ] / + = ? !"
)


def build_tokenizer(texts: Iterable[str] = (), vocab_size: int = 1024):
    """A ``PreTrainedTokenizerFast`` trained on ``texts`` (plus a small built-in corpus).

    Deterministic: the same texts give the same vocabulary. ``vocab_size`` is an upper
    bound (a small corpus yields fewer merges).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Punctuation("isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [BASE_CORPUS, *texts]
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens(list(OPTION_MARKERS))
    return wrap(tok.to_str())


def wrap(tokenizer_json: str):
    """Rebuild the tokenizer from its JSON (as stored in a checkpoint)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer_json), **SPECIAL)
    fast.padding_side = "left"
    return fast


def to_json(tokenizer) -> str:
    return tokenizer.backend_tokenizer.to_str()
