"""Tiny real models and small GLUE-format folders for tests (Python and TypeScript alike).

The models are randomly initialised transformers models of each supported family with a real
byte-level BPE tokenizer trained on a small vocabulary; the GLUE folders use the original TSV
layout with a learnable synthetic signal (sentiment words, paraphrase overlap), so a test can
train on them and check that learning happened. Exposed as the test-only op `make_test_fixture`.
"""

from __future__ import annotations

import os
import random

POSITIVE = ["good", "great", "fine", "happy", "lovely", "superb", "bright", "warm", "kind", "nice"]
NEGATIVE = ["bad", "awful", "poor", "sad", "dull", "grim", "cold", "cruel", "nasty", "weak"]
NEUTRAL = ["the", "a", "film", "story", "actor", "plot", "scene", "music", "day", "city", "was",
           "is", "very", "quite", "really", "this", "that", "and", "of", "with", "old", "new"]


def _sentence(rng: random.Random, sentiment_words: list[str], length: int) -> str:
    words = [rng.choice(NEUTRAL) for _ in range(length)]
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(sentiment_words))
    return " ".join(words)


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [_sentence(rng, POSITIVE if i % 2 else NEGATIVE, rng.randint(4, 12)) for i in range(n)]


def make_tokenizer(out_dir: str, vocab_size: int = 300):
    """A byte-level BPE tokenizer with RoBERTa's special tokens, saved so AutoTokenizer loads it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
                                   model_max_length=128)
    fast.save_pretrained(out_dir)
    return fast


def make_tiny_model(out_dir: str, family: str = "roberta", hidden: int = 32, layers: int = 2, heads: int = 2,
                    intermediate: int = 64, seed: int = 0) -> str:
    """A randomly initialised model of the family, saved as safetensors with its tokenizer."""
    import torch
    from transformers import (AutoModel, BertConfig, GPT2Config, LlamaConfig, RobertaConfig, T5Config)

    os.makedirs(out_dir, exist_ok=True)
    tokenizer = make_tokenizer(out_dir)
    vocab = len(tokenizer)
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id)
    if family == "roberta":
        config = RobertaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                               intermediate_size=intermediate, max_position_embeddings=130, **common)
    elif family == "bert":
        config = BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                            intermediate_size=intermediate, max_position_embeddings=130, **common)
    elif family == "llama":
        config = LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                             num_key_value_heads=heads, intermediate_size=intermediate,
                             max_position_embeddings=256, **common)
    elif family == "gpt2":
        config = GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=256, **common)
    elif family == "t5":
        config = T5Config(d_model=hidden, d_kv=hidden // heads, d_ff=intermediate, num_layers=layers,
                          num_heads=heads, decoder_start_token_id=tokenizer.pad_token_id, **common)
    else:
        raise ValueError(f"no tiny model recipe for family '{family}'")
    model = AutoModel.from_config(config)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def write_glue_dir(out_dir: str, tasks=("sst2", "mrpc", "stsb"), n_train: int = 200, n_eval: int = 80,
                   seed: int = 0) -> str:
    """A GLUE folder in the original TSV layout with a learnable signal per task."""
    rng = random.Random(seed)
    for task in tasks:
        writer = _WRITERS[task]
        folder = os.path.join(out_dir, _FOLDERS[task])
        os.makedirs(folder, exist_ok=True)
        for name, n in (("train.tsv", n_train), (_EVAL_FILE.get(task, "dev.tsv"), n_eval)):
            with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                f.write(writer(rng, n))
    return out_dir


def _sst2(rng, n):
    lines = ["sentence\tlabel"]
    for i in range(n):
        label = i % 2
        lines.append(f"{_sentence(rng, POSITIVE if label else NEGATIVE, rng.randint(4, 10))}\t{label}")
    return "\n".join(lines) + "\n"


def _cola(rng, n):
    lines = []
    for i in range(n):
        label = i % 2
        lines.append(f"src\t{label}\t*\t{_sentence(rng, POSITIVE if label else NEGATIVE, rng.randint(4, 10))}")
    return "\n".join(lines) + "\n"


def _pair_rows(rng, n):
    for i in range(n):
        label = i % 2
        a = _sentence(rng, POSITIVE, rng.randint(4, 9))
        b = a if label else _sentence(rng, NEGATIVE, rng.randint(4, 9))
        yield label, a, b


def _mrpc(rng, n):
    lines = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
    lines += [f"{label}\t{i}\t{i}\t{a}\t{b}" for i, (label, a, b) in enumerate(_pair_rows(rng, n))]
    return "\n".join(lines) + "\n"


def _rte(rng, n):
    lines = ["index\tsentence1\tsentence2\tlabel"]
    lines += [f"{i}\t{a}\t{b}\t{'entailment' if label else 'not_entailment'}"
              for i, (label, a, b) in enumerate(_pair_rows(rng, n))]
    return "\n".join(lines) + "\n"


def _stsb(rng, n):
    lines = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
    for i in range(n):
        k = rng.randint(0, 5)
        a = _sentence(rng, POSITIVE[:k] or NEUTRAL[:1], 5)
        b = " ".join(a.split()[:k] + [rng.choice(NEUTRAL) for _ in range(5 - min(k, 5))])
        lines.append(f"{i}\tg\tf\t2020\t{i}\ts\ts\t{a}\t{b}\t{k:.1f}")
    return "\n".join(lines) + "\n"


_WRITERS = {"sst2": _sst2, "cola": _cola, "mrpc": _mrpc, "rte": _rte, "stsb": _stsb}
_FOLDERS = {"sst2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "rte": "RTE", "stsb": "STS-B"}
_EVAL_FILE: dict[str, str] = {}


def make_test_fixture(payload, ctx):
    """Op: a tiny model of `family` and a GLUE folder of `glue_tasks` under `out`."""
    model_dir = make_tiny_model(os.path.join(payload.out, f"tiny-{payload.family}"), family=payload.family,
                                hidden=payload.hidden, layers=payload.layers)
    glue_dir = write_glue_dir(os.path.join(payload.out, "glue"), tuple(payload.glue_tasks), payload.n_train,
                              payload.n_eval, payload.seed)
    return {"model": model_dir, "glue_dir": glue_dir}
