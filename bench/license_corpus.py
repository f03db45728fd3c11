"""The sample license corpus replicated with deterministic variations, for throughput runs.

Copy 0 is samples/docs/ as shipped (it already plants one exact and one near
duplicate). Every later copy re-writes each document in its own format with a
seeded roll per (copy, document):

- 10% exact duplicates of the original (text files get CRLF line ends and
  trailing spaces, which cleaning removes; pdf/docx are byte copies),
- 15% near duplicates (a `(Copy N.)` line appended, one word swapped in texts
  over 200 words: word-shingle Jaccard stays ≈ 0.9),
- 75% distinct (a copy header, a fifth of the longer words swapped, sentences
  shuffled inside each paragraph: Jaccard to any other copy well below 0.5).

Next to each mixed-format copy a plain-text twin holds one `.txt` per document
(the varied text before rendering; html as raw markup; one file per jsonl line)
so two cleaners can be given byte-identical input.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from builder.ingest import ingest_folder
from core.options.ingest import IngestOptions

REPO = Path(__file__).resolve().parent.parent
ORIGINALS = REPO / "samples" / "docs"
EXCLUDE = ["SOURCES.md"]
# The duplicates samples/docs plants in copy 0 (see samples/docs/SOURCES.md).
PLANTED = {"isc_copy.md": "exact", "bsd-2-clause-patent_variant.txt": "near"}
EXACT_SHARE, NEAR_SHARE = 0.10, 0.15
SUBSTITUTION_RATE = 0.2
FILLER = [
    "licensee", "licensor", "grantor", "grantee", "holder", "steward", "notice", "warranty", "remedy",
    "damages", "covenant", "clause", "proviso", "assignment", "transfer", "sublicense", "royalty",
    "tribute", "contribution", "derivative", "artifact", "compilation", "binary", "archive", "package",
    "bundle", "library", "module", "toolkit", "program", "component", "extension", "plugin", "firmware",
    "dataset", "manual", "handbook", "edition", "release", "revision", "charter", "statute", "tribunal",
    "venue", "county", "province", "district", "harbour", "meadow", "river", "granite", "copper", "willow",
    "falcon", "lantern", "compass", "orchard", "quarry", "beacon",
]  # fmt: skip
_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
_SENTENCE_END = re.compile(r"(?<=[.;:])\s+(?=[A-Z(])")
_TAG_SPLIT = re.compile(r"(<[^>]+>)")
_ARTICLE = re.compile(r"(<article[^>]*>)(.*?)(</article>)", re.DOTALL)


@dataclass
class Corpus:
    """A replicated corpus on disk: `mixed/` as a user would drop it, `plain/` its text twin."""

    mixed: Path
    plain: Path
    copies: int
    planned: Counter = field(default_factory=Counter)  # original / exact / near / distinct, per document
    mixed_bytes: int = 0
    plain_bytes: int = 0
    files: int = 0
    plain_docs: int = 0


@dataclass(frozen=True)
class _Original:
    name: str
    suffix: str
    data: bytes
    texts: list[tuple[str, str]]  # (title, parsed text); one per document, several for jsonl


def write_pool(target: Path, copies: int, seed: int = 0) -> list[Counter]:
    """Write copies 0..copies-1 under target/{mixed,plain}/cNNNN; return the planned labels per copy."""
    originals = _load_originals()
    plans = []
    for copy in range(copies):
        mixed, plain = target / "mixed" / f"c{copy:05d}", target / "plain" / f"c{copy:05d}"
        mixed.mkdir(parents=True, exist_ok=True)
        plain.mkdir(parents=True, exist_ok=True)
        plan: Counter = Counter()
        for original in originals:
            plan.update(_write_copy(original, copy, seed, mixed, plain))
        plans.append(plan)
    return plans


def corpus_of(pool: Path, plans: list[Counter], copies: int, target: Path) -> Corpus:
    """The first `copies` copies of a pool, hard-linked (copied where links fail) under target."""
    corpus = Corpus(mixed=target / "mixed", plain=target / "plain", copies=copies)
    shutil.rmtree(target, ignore_errors=True)
    for kind in ("mixed", "plain"):
        for copy in range(copies):
            source = pool / kind / f"c{copy:05d}"
            dest = target / kind / source.name
            dest.mkdir(parents=True)
            for path in sorted(source.iterdir()):
                _link(path, dest / path.name)
                size = path.stat().st_size
                if kind == "mixed":
                    corpus.mixed_bytes += size
                    corpus.files += 1
                else:
                    corpus.plain_bytes += size
                    corpus.plain_docs += 1
    for plan in plans[:copies]:
        corpus.planned.update(plan)
    return corpus


def _link(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _load_originals() -> list[_Original]:
    """Each sample file with the text dsforge parses from it (pdf/docx need it to be re-rendered)."""
    ingested = ingest_folder(ORIGINALS, IngestOptions(exclude=EXCLUDE))
    by_file: dict[str, list[tuple[str, str]]] = {}
    for doc in ingested.documents:
        by_file.setdefault(doc.source.split("#", 1)[0], []).append((doc.title, doc.text))
    return [
        _Original(
            name=name, suffix=Path(name).suffix.lstrip("."), data=(ORIGINALS / name).read_bytes(), texts=texts
        )
        for name, texts in sorted(by_file.items())
    ]


def _roll(seed: int, copy: int, name: str) -> tuple[str, random.Random]:
    rng = random.Random(hashlib.sha256(f"{seed}:{copy}:{name}".encode()).hexdigest())
    if copy == 0:
        return PLANTED.get(name, "original"), rng
    roll = rng.random()
    kind = "exact" if roll < EXACT_SHARE else "near" if roll < EXACT_SHARE + NEAR_SHARE else "distinct"
    return kind, rng


def _write_copy(original: _Original, copy: int, seed: int, mixed: Path, plain: Path) -> Counter:
    stem = Path(original.name).stem
    if original.suffix == "jsonl":
        return _write_jsonl(original, copy, seed, mixed, plain)
    kind, rng = _roll(seed, copy, original.name)
    if original.suffix in ("txt", "md"):
        text = original.data.decode("utf-8")
        varied = text if copy == 0 else _vary(text, kind, copy, rng)
        data = varied.encode("utf-8")
        plain_text = varied
    elif original.suffix == "html":
        page = original.data.decode("utf-8")
        data = (page if copy == 0 or kind == "exact" else _vary_html(page, kind, copy, rng)).encode("utf-8")
        plain_text = data.decode("utf-8")
    else:  # pdf, docx: re-rendered from the parsed text, except exact copies (byte copies)
        title, text = original.texts[0]
        if copy == 0 or kind == "exact":
            data, plain_text = original.data, text
        else:
            plain_text = _vary(text, kind, copy, rng)
            data = _render(original.suffix, title or stem, stem, plain_text)
    (mixed / original.name).write_bytes(data)
    (plain / f"{original.name}.txt").write_text(plain_text, encoding="utf-8", newline="")
    return Counter({kind: 1})


def _write_jsonl(original: _Original, copy: int, seed: int, mixed: Path, plain: Path) -> Counter:
    plan: Counter = Counter()
    lines = []
    for number, raw in enumerate(original.data.decode("utf-8").splitlines(), start=1):
        record = json.loads(raw)
        kind, rng = _roll(seed, copy, f"{original.name}#L{number}")
        if copy:
            record["id"] = f"{record['id']}-c{copy}"
            record["text"] = _vary(record["text"], kind, copy, rng)
        lines.append(json.dumps(record, ensure_ascii=False))
        (plain / f"{original.name}-L{number:03d}.txt").write_text(
            record["text"], encoding="utf-8", newline=""
        )
        plan[kind] += 1
    (mixed / original.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


def _vary(text: str, kind: str, copy: int, rng: random.Random) -> str:
    if kind == "exact":
        return "\r\n".join(line + "  " for line in text.split("\n"))
    if kind == "near":
        if len(text.split()) > 200:
            text = _substitute(text, rng, rate=None)
        return text.rstrip("\n") + f"\n\n(Copy {copy}.)\n"
    header = f"Copy {copy}, variant {rng.randrange(16**6):06x}.\n\n"
    paragraphs = [_shuffle_sentences(_substitute(p, rng, SUBSTITUTION_RATE), rng) for p in text.split("\n\n")]
    return header + "\n\n".join(paragraphs)


def _vary_html(page: str, kind: str, copy: int, rng: random.Random) -> str:
    """Vary only the text between tags inside <article>; the page chrome stays as it was."""
    match = _ARTICLE.search(page)
    if match is None:
        return page
    parts = _TAG_SPLIT.split(match.group(2))
    if kind == "near":
        body = match.group(2) + f"<p>(Copy {copy}.)</p>\n"
    else:
        varied = [p if p.startswith("<") or not p.strip() else
                  html.escape(_shuffle_sentences(_substitute(html.unescape(p), rng, SUBSTITUTION_RATE), rng),
                              quote=False) for p in parts]  # fmt: skip
        body = f"\n<p>Copy {copy}, variant {rng.randrange(16**6):06x}.</p>" + "".join(varied)
    return page[: match.start(2)] + body + page[match.end(2) :]


def _substitute(text: str, rng: random.Random, rate: float | None) -> str:
    """Swap words of 4+ letters for filler words; rate None swaps exactly one."""
    if rate is None:
        words = list(_WORD.finditer(text))
        if not words:
            return text
        hit = words[rng.randrange(len(words))]
        return text[: hit.start()] + rng.choice(FILLER) + text[hit.end() :]
    return _WORD.sub(lambda m: rng.choice(FILLER) if rng.random() < rate else m.group(0), text)


def _shuffle_sentences(text: str, rng: random.Random) -> str:
    sentences = _SENTENCE_END.split(text)
    rng.shuffle(sentences)
    return " ".join(sentences)


def _render(suffix: str, title: str, stem: str, text: str) -> bytes:
    """pdf/docx through samples/regenerate_docs.py's renderers, so copies look like the originals."""
    sys.path.insert(0, str(REPO / "samples"))
    try:
        import regenerate_docs
    finally:
        sys.path.remove(str(REPO / "samples"))
    lic = {"id": stem.upper(), "name": title, "url": f"https://spdx.org/licenses/{stem}.html"}
    if suffix == "pdf":
        # fpdf2's core fonts are latin-1 only.
        lic["name"] = title.encode("latin-1", "replace").decode("latin-1")
        text = text.encode("latin-1", "replace").decode("latin-1")
    return regenerate_docs.RENDER[suffix](lic, text)
