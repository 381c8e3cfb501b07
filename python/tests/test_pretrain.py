"""The tiny-model pretraining recipe, and the committed embedded model it produced."""

import json
import os

import pytest
import torch

from osrm_runtime.demo import pretrain as P

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL_DIR = os.path.join(REPO, "models", "osrm-tiny-roberta")

# A small real text: the opening of Moby-Dick (public domain), repeated into a few documents.
TEXT = ("Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, "
        "and nothing particular to interest me on shore, I thought I would sail about a little and see the "
        "watery part of the world. It is a way I have of driving off the spleen and regulating the circulation. "
        "Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; "
        "whenever I find myself involuntarily pausing before coffin warehouses, and bringing up the rear of every "
        "funeral I meet; then, I account it high time to get to sea as soon as I can.")


def _tiny_cfg(**kw):
    base = dict(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seq_len=32,
                long_seq_len=32, long_fraction=0.0, batch_size=8, steps=40, lr=3e-3, warmup_steps=4,
                eval_every=20, log_every=5, threads=1, min_frequency=1, eval_windows=16)
    base.update(kw)
    return P.PretrainConfig(**base)


def test_masked_logits_equal_full_logits_at_masked_positions():
    from transformers import RobertaConfig, RobertaForMaskedLM

    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=20, type_vocab_size=1, pad_token_id=1)
    model = RobertaForMaskedLM(config).eval()
    ids = torch.randint(5, 50, (3, 12))
    gen = torch.Generator().manual_seed(1)
    inputs, labels = P.mask_tokens(ids, 0.3, 4, 50, [0, 1, 2, 3, 4], gen)
    assert (labels != -100).sum() > 0
    with torch.no_grad():
        full = model(input_ids=inputs).logits[labels != -100]
        sel = P.masked_logits(model, inputs, labels)
    assert sel.shape == full.shape
    torch.testing.assert_close(sel, full, rtol=1e-5, atol=1e-5)
    # the loss is the usual MLM cross-entropy over the masked positions
    with torch.no_grad():
        ref = model(input_ids=inputs, labels=labels).loss
        ours = P.mlm_loss(model, inputs, labels)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_mask_tokens_never_masks_special_tokens_and_is_seeded():
    ids = torch.cat([torch.zeros(4, 1, dtype=torch.long), torch.randint(5, 100, (4, 30)),
                     torch.full((4, 1), 2)], dim=1)
    a = P.mask_tokens(ids, 0.15, 4, 100, [0, 1, 2, 3, 4], torch.Generator().manual_seed(3))
    b = P.mask_tokens(ids, 0.15, 4, 100, [0, 1, 2, 3, 4], torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    labels = a[1]
    assert (labels[:, 0] == -100).all() and (labels[:, -1] == -100).all()
    chosen = labels != -100
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the original tokens


def test_sinusoidal_position_init_fills_the_rows_after_padding():
    from transformers import RobertaTokenizerFast

    w = torch.nn.Embedding(34, 16).weight
    P.init_positions_sinusoidal(w, 1, 0.02)
    assert torch.all(w[1] == 0)
    assert torch.allclose(w[2, 1::2], torch.full((8,), 0.02 / 0.5 ** 0.5))  # position 0: cos = 1
    assert abs(float(w[2:].detach().std()) - 0.02) < 0.005


def test_pack_makes_full_windows_with_bos_and_eos():
    w = P.pack([[10, 11, 12], [13, 14], [15, 16, 17, 18, 19]], 6, 0, 2)
    assert w.shape[1] == 6
    assert (w[:, 0] == 0).all() and (w[:, -1] == 2).all()
    assert w[0, 1:5].tolist() == [10, 11, 12, 2]


def test_recipe_runs_and_loss_decreases(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = [TEXT[i:] + " " + TEXT[:i] for i in range(0, 400, 20)]
    out = str(tmp_path / "tiny")
    res = P.pretrain(texts, _tiny_cfg(), out, log=lambda m: None)
    losses = [h["train_loss"] for h in res.history]
    assert res.steps == 40
    assert losses[-1] < losses[0] - 1.0, losses
    assert res.final_eval_loss is not None
    for name in ("config.json", "model.safetensors", "loss.csv", "pretrain.json", "tokenizer.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out, num_labels=2)
    assert len(tok) == model.config.vocab_size <= 300
    assert model.config.hidden_dropout_prob == 0.1  # pretrained without dropout, fine-tuned with it


def test_card_is_written_from_the_files_and_can_be_rewritten(tmp_path):
    texts = [TEXT[i:] + " " + TEXT[:i] for i in range(0, 400, 20)]  # 20 documents: one is held out
    out = str(tmp_path / "card")
    P.pretrain(texts, _tiny_cfg(steps=6, eval_every=3, log_every=3), out, log=lambda m: None)
    with open(os.path.join(out, "pretrain.json")) as f:
        rec = json.load(f)
    assert rec["result"]["tokens"] == 6 * 8 * 32 and rec["result"]["wall_s"] >= 0
    assert rec["hardware"]["cores"] and rec["config"]["hidden_size"] == 32
    assert "recipe_commit" in rec
    P.measure_throughput(_tiny_cfg(), out, batch_sizes=(2,), steps=1, command="test")
    P.write_model_card(out)
    card = open(os.path.join(out, "README.md")).read()
    assert "Final held-out MLM loss" in card and "| 6 |" in card  # the curve's last row
    assert "bf16 autocast" in card
    os.remove(os.path.join(out, "README.md"))
    P.main(["--out", out, "--card-only"])
    assert open(os.path.join(out, "README.md")).read() == card


def test_schedule_warms_up_holds_and_decays_and_a_time_budget_ends_it_the_same_way():
    plan = P.Schedule(warmup=10, total=100, decay_ratio=0.2, long_fraction=0.05)
    assert plan.factor(0) == pytest.approx(0.1) and plan.factor(9) == 1.0 and plan.factor(79) == 1.0
    assert plan.decay_from == 80 and plan.factor(90) == pytest.approx(0.5) and plan.long_from == 95
    plan.end_at(40)
    fixed = P.Schedule(warmup=10, total=plan.total, decay_ratio=0.2, long_fraction=0.05)
    assert plan.total == 50 and plan.decay_from == 40 == fixed.decay_from
    assert [plan.factor(s) for s in range(50)] == [fixed.factor(s) for s in range(50)]


def test_a_time_budget_ends_the_run_with_a_full_decay(tmp_path):
    texts = [TEXT[i:] + " " + TEXT[:i] for i in range(0, 400, 20)]
    res = P.pretrain(texts, _tiny_cfg(steps=100000, max_minutes=0.05, log_every=5, eval_every=1000), str(tmp_path),
                     log=lambda m: None)
    with open(os.path.join(tmp_path, "pretrain.json")) as f:
        sched = json.load(f)["schedule"]
    assert sched["ended_by_time_budget"] and res.steps == sched["steps"] < 100000
    assert res.history[-1]["lr"] == 0.0 and res.final_eval_loss is not None


def test_recipe_is_deterministic(tmp_path):
    texts = [TEXT[i:] + " " + TEXT[:i] for i in range(0, 200, 20)]
    a = P.pretrain(texts, _tiny_cfg(steps=6, eval_every=6, log_every=3), str(tmp_path / "a"), log=lambda m: None)
    b = P.pretrain(texts, _tiny_cfg(steps=6, eval_every=6, log_every=3), str(tmp_path / "b"), log=lambda m: None)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


# ---------------------------------------------------------------------------------------------
# the committed model


def test_committed_model_loads_and_its_tokenizer_round_trips():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert os.path.isdir(MODEL_DIR), "models/osrm-tiny-roberta is missing (python -m osrm_runtime.demo.pretrain)"
    files = os.listdir(MODEL_DIR)
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))], files
    assert os.path.getsize(os.path.join(MODEL_DIR, "model.safetensors")) <= 25 * 1024 * 1024
    for name in ("README.md", "loss.csv", "config.json"):
        assert name in files
    tok = AutoTokenizer.from_pretrained(MODEL_DIR)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, num_labels=2).eval()
    with open(os.path.join(MODEL_DIR, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    assert len(tok) == vocab == model.config.vocab_size
    assert 4000 <= vocab <= 8192
    text = "Call me Ishmael. The State of the Union is strong -- $3 billion, naïve café!"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert len(ids) < len(text.encode()) // 2  # a trained BPE, not bytes
    batch = tok(["a short one", text], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_committed_model_meets_the_bar():
    with open(os.path.join(MODEL_DIR, "pretrain.json")) as f:
        rec = json.load(f)
    assert sum(s["tokens"] for s in rec["stages"]) >= P.TOKENS_BAR
    assert rec["result"]["final_eval_loss"] <= P.LOSS_BAR  # the unigram level of this vocabulary is about 6


def test_committed_model_records_how_it_was_made_and_learned_something():
    with open(os.path.join(MODEL_DIR, "pretrain.json")) as f:
        rec = json.load(f)
    assert rec["result"]["final_eval_loss"] < 5.0  # well below the unigram plateau (about 6)
    assert rec["recipe_commit"]["commit"] and rec["hardware"]["cpu"] and rec["result"]["wall_s"] > 0
    assert rec["config"]["num_layers"] and rec["corpus"]["sources"]
    # no demo eval passage occurs in the pretraining corpus
    overlap = rec["corpus"]["demo_eval_texts_in_corpus"]
    assert overlap and all(v["in_corpus"] == 0 for v in overlap.values()), overlap
    with open(os.path.join(MODEL_DIR, "loss.csv")) as f:
        rows = [r for r in __import__("csv").DictReader(f) if r["eval_loss"]]
    assert float(rows[-1]["eval_loss"]) == rec["result"]["final_eval_loss"]
    assert float(rows[0]["eval_loss"]) > float(rows[-1]["eval_loss"]) + 1.0
    card = open(os.path.join(MODEL_DIR, "README.md"), encoding="utf-8").read()
    assert str(rec["result"]["final_eval_loss"]) in card


def test_committed_model_was_checked_against_random_init_on_every_demo_task():
    from osrm_runtime.demo import tasks as demo_tasks

    with open(os.path.join(MODEL_DIR, "demo_check.json")) as f:
        chk = json.load(f)
    assert chk["scored_on"] == "the eval split"
    by_task = {t["task"]: t for t in chk["tasks"]}
    assert set(by_task) == set(demo_tasks.BUILDERS)
    for t in by_task.values():
        assert {"base", "random", "baseline", "metric"} <= set(t)
        assert "base_beats_random" in t


def test_a_second_stage_continues_from_the_first(tmp_path):
    import csv

    texts = [TEXT[i:] + " " + TEXT[:i] for i in range(0, 200, 20)]
    first = str(tmp_path / "one")
    P.pretrain(texts, _tiny_cfg(steps=10, eval_every=5, log_every=5), first, log=lambda m: None)
    second = str(tmp_path / "two")
    res = P.pretrain(texts, _tiny_cfg(steps=10, eval_every=5, log_every=5, seed=43), second, log=lambda m: None,
                     init_from=first)
    with open(os.path.join(second, "loss.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(r["stage"], r["step"]) for r in rows] == [("1", "5"), ("1", "10"), ("2", "15"), ("2", "20")]
    with open(os.path.join(second, "pretrain.json")) as f:
        stages = json.load(f)["stages"]
    assert [s["steps"] for s in stages] == [10, 10] and stages[1]["init_from"] == first
    # the second stage starts where the first ended, not from a random model
    assert res.history[0]["train_loss"] < float(rows[0]["train_loss"])
