"""Regenerate the sample license corpus in samples/docs/ from the npm package spdx-license-list.

The texts are real license texts from `spdx-license-list@6.12.0` (its `licenses/<id>.json`
files: name, url, osiApproved, licenseText). Fetch and unpack the package, then run:

    cd "$(mktemp -d)" && npm pack spdx-license-list@6.12.0 && tar xzf spdx-license-list-6.12.0.tgz
    python samples/regenerate_docs.py "$PWD/package"

Needs fpdf2 and python-docx; pypdf too if you want the PDF text check (`--no-verify` skips it).
Output is deterministic: fixed PDF creation date, fixed docx core properties and zip entry
timestamps, so a rerun with the same library versions gives byte-identical files.

The corpus mixes formats on purpose (txt, md, html with web-page boilerplate, pdf, docx, jsonl)
and plants one exact duplicate and one near-duplicate for the dedup stage; SOURCES.md lists
every file with its origin and sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PACKAGE = "spdx-license-list"
VERSION = "6.12.0"
INTEGRITY = (  # npm's dist.integrity of the tarball this corpus was built from
    "sha512-+nUYqm3aZMSHbjsthK+i/HHI2okTElCvqwUd4k8QcSk+FTGgjq+fsdFj2wZOaX6XmR2JdWhf/NeflNnvKOjcnQ=="
)
# Publication time of spdx-license-list@6.12.0 on the npm registry; used as the fixed
# creation/modification date of every generated PDF and docx so reruns are byte-identical.
FIXED_DATE = datetime(2026, 7, 25, 0, 13, 11, tzinfo=timezone.utc)
ZIP_DATE = (2026, 7, 25, 0, 13, 10)  # zip timestamps have 2-second resolution


@dataclass(frozen=True)
class Doc:
    spdx: str  # SPDX id in the package
    fmt: str  # txt | md | html | pdf | docx
    stem: str = ""  # file stem; defaults to the lowercased SPDX id
    role: str = ""  # "" | "exact-duplicate" | "near-duplicate"
    of: str = ""  # file name of the document this one duplicates

    @property
    def filename(self) -> str:
        return f"{self.stem or self.spdx.lower()}.{self.fmt}"


# The planted copies are named "<original>_<suffix>" so they sort after their originals ("_" sorts
# after "." and "-"): a keep-first dedup over sorted paths keeps the published text.
# Short permissive licenses, chosen by text length, spread across formats. Licenses that are
# near-identical to one another in the wild (e.g. MIT vs JSON, Xnet; BSD-2-Clause vs
# BSD-3-Clause) are not both included, so that only the planted pairs look duplicated.
DOCS: list[Doc] = [
    Doc("MIT", "txt"),
    Doc("ISC", "txt"),
    Doc("X11", "txt"),
    Doc("NCSA", "txt"),
    Doc("curl", "txt"),
    Doc("MIT-CMU", "txt"),
    Doc("HPND", "txt"),
    Doc("NTP", "txt"),
    Doc("BSD-2-Clause-Patent", "txt"),
    Doc(
        "BSD-2-Clause-Patent",
        "txt",
        stem="bsd-2-clause-patent_variant",
        role="near-duplicate",
        of="bsd-2-clause-patent.txt",
    ),
    Doc("ISC", "md", stem="isc_copy", role="exact-duplicate", of="isc.txt"),
    Doc("MIT-0", "md"),
    Doc("Unlicense", "md"),
    Doc("BSL-1.0", "md"),
    Doc("BlueOak-1.0.0", "md"),
    Doc("MirOS", "md"),
    Doc("MS-PL", "md"),
    Doc("libpng-2.0", "md"),
    Doc("BSD-3-Clause", "html"),
    Doc("UPL-1.0", "html"),
    Doc("ICU", "html"),
    Doc("PostgreSQL", "html"),
    Doc("Zlib", "pdf"),
    Doc("bzip2-1.0.6", "pdf"),
    Doc("BSD-1-Clause", "pdf"),
    Doc("W3C-20150513", "docx"),
    Doc("MIT-Modern-Variant", "docx"),
    Doc("Spencer-94", "docx"),
]
JSONL_NAME = "short_licenses.jsonl"
JSONL_IDS = ["0BSD", "WTFPL", "Fair", "FSFAP", "Beerware", "blessing"]

# The near-duplicate: the copyright line filled in and one wording change, rest verbatim. A long
# text keeps the pair well above a 0.85 word-shingle Jaccard threshold (about 0.95 here).
NEAR_DUP_EDITS = {
    "bsd-2-clause-patent_variant.txt": [
        ("Copyright (c) <YEAR> <COPYRIGHT HOLDERS>", "Copyright (c) 2019 Example Foundation"),
        ("or contributor is granted under", "or contributor are granted under"),
    ]
}


def load_license(package: Path, spdx: str) -> dict:
    data = json.loads((package / "licenses" / f"{spdx}.json").read_text(encoding="utf-8"))
    return {"id": spdx, "name": data["name"], "url": data["url"], "text": data["licenseText"]}


def license_text(lic: dict, doc: Doc) -> str:
    text = lic["text"]
    for old, new in NEAR_DUP_EDITS.get(doc.filename, []):
        if text.count(old) != 1:
            raise SystemExit(f"{doc.filename}: expected exactly one {old!r} in {lic['id']}")
        text = text.replace(old, new)
    return text


def paragraphs(text: str) -> list[str]:
    """License paragraphs: blocks separated by blank lines; line breaks inside a block are kept."""
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def starts_with_name(lic: dict, text: str) -> bool:
    """Some texts open with their own title (e.g. "zlib License"); don't print it twice."""
    return text.lstrip().lower().startswith(lic["name"].lower())


def render_txt(lic: dict, text: str) -> bytes:
    return (text + "\n").encode("utf-8")


def render_md(lic: dict, text: str) -> bytes:
    head = f"# {lic['name']}\n\nSPDX id: {lic['id']}; source: <{lic['url']}>\n\n"
    return (head + text + "\n").encode("utf-8")


HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} ({spdx}) - Open License Library</title>
<link rel="canonical" href="https://licenses.example.org/{slug}/">
<style>
  body {{ font-family: Georgia, serif; margin: 0; color: #222; }}
  nav ul {{ list-style: none; display: flex; gap: 1.5rem; }}
  .cookie-banner {{ position: fixed; bottom: 0; width: 100%; background: #333; color: #fff; }}
  article p {{ max-width: 42rem; line-height: 1.5; }}
</style>
<script>
  window.dataLayer = window.dataLayer || [];
  function track(event) {{ window.dataLayer.push({{event: event, page: "{slug}"}}); }}
  document.addEventListener("DOMContentLoaded", function () {{ track("license_view"); }});
</script>
</head>
<body>
<div class="cookie-banner" id="cookie-banner" role="dialog">
  <p>We use cookies to remember your preferences and to count visits. See our
  <a href="/privacy/">privacy notice</a>.</p>
  <button onclick="document.getElementById('cookie-banner').remove()">Accept all cookies</button>
  <button>Only necessary cookies</button>
</div>
<header class="site-header">
  <a class="logo" href="/">Open License Library</a>
  <form action="/search/" role="search"><input name="q" placeholder="Search licenses"></form>
</header>
<nav aria-label="Main">
  <ul>
    <li><a href="/">Home</a></li>
    <li><a href="/licenses/">All licenses</a></li>
    <li><a href="/compare/">Compare</a></li>
    <li><a href="/faq/">FAQ</a></li>
  </ul>
</nav>
<!-- license body starts here -->
<main id="content">
<article class="license">
<h1>{name}</h1>
<p class="license-meta">SPDX id: {spdx}; source: <a href="{url}">{url}</a></p>
{body}
</article>
</main>
<aside class="related">
  <h2>Related licenses</h2>
  <ul><li><a href="/licenses/">Browse the full list</a></li></ul>
</aside>
<footer>
  <p>&copy; Open License Library. License texts are reproduced verbatim for reference only;
  this page is not legal advice.</p>
  <p><a href="/privacy/">Privacy</a> | <a href="/terms/">Terms of use</a> | <a href="/contact/">Contact</a></p>
</footer>
<script src="/static/js/site.min.js" defer></script>
</body>
</html>
"""


def render_html(lic: dict, text: str) -> bytes:
    body = "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs(text))
    page = HTML_PAGE.format(
        name=html.escape(lic["name"]),
        spdx=lic["id"],
        slug=lic["id"].lower(),
        url=html.escape(lic["url"]),
        body=body,
    )
    return page.encode("utf-8")


def render_pdf(lic: dict, text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(lic["name"])
    pdf.set_subject(f"SPDX id: {lic['id']}")
    pdf.set_keywords("license, SPDX")
    pdf.set_creator(f"regenerate_docs.py from {PACKAGE}@{VERSION}")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    if not starts_with_name(lic, text):
        pdf.set_font("Helvetica", style="B", size=14)
        pdf.multi_cell(0, 8, lic["name"], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.set_font("Helvetica", size=10)
    for para in paragraphs(text):
        pdf.multi_cell(0, 5, para, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    return bytes(pdf.output())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps (python-docx stamps entries with 'now')."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render_docx(lic: dict, text: str) -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = lic["name"]
    props.subject = f"SPDX id: {lic['id']}"
    props.keywords = "license, SPDX"
    props.comments = f"Source: {lic['url']} (via {PACKAGE}@{VERSION})"
    props.author = PACKAGE
    props.last_modified_by = PACKAGE
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    if not starts_with_name(lic, text):
        document.add_heading(lic["name"], level=1)
    for para in paragraphs(text):
        document.add_paragraph(para)  # "\n" inside a paragraph becomes a line break
    buf = io.BytesIO()
    document.save(buf)
    return _normalise_zip(buf.getvalue())


RENDER = {"txt": render_txt, "md": render_md, "html": render_html, "pdf": render_pdf, "docx": render_docx}


def render_jsonl(package: Path) -> tuple[bytes, list[dict]]:
    rows = [load_license(package, spdx) for spdx in JSONL_IDS]
    lines = [
        json.dumps(
            {"id": r["id"], "title": r["name"], "url": r["url"], "text": r["text"]},
            ensure_ascii=False,
        )
        for r in rows
    ]
    return ("\n".join(lines) + "\n").encode("utf-8"), rows


def _squash(text: str) -> str:
    return " ".join(text.split())


def extract_text(path: Path) -> str | None:
    """Read a generated file back the way an ingest step would; None where no reader is installed."""
    if path.suffix == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            return None
        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    if path.suffix == ".docx":
        import docx

        return "\n".join(p.text for p in docx.Document(path).paragraphs)
    if path.suffix == ".html":
        from html.parser import HTMLParser

        class ArticleText(HTMLParser):
            def __init__(self) -> None:
                super().__init__()
                self.depth, self.parts = 0, []

            def handle_starttag(self, tag, attrs):
                self.depth += tag == "article"

            def handle_endtag(self, tag):
                self.depth -= tag == "article"

            def handle_data(self, data):
                if self.depth:
                    self.parts.append(data)

        reader = ArticleText()
        reader.feed(path.read_text(encoding="utf-8"))
        return " ".join(reader.parts)
    return path.read_text(encoding="utf-8")


def verify(out: Path, expected: dict[str, str]) -> None:
    """Every file's text must read back with the license wording intact (whitespace aside)."""
    for name, text in expected.items():
        got = extract_text(out / name)
        if got is None:
            print(f"  skip {name}: no reader installed (pip install pypdf)")
            continue
        if _squash(text) not in _squash(got):
            raise SystemExit(f"{name}: extracted text does not contain the license text")
    print(f"  verified text read-back of {len(expected)} files")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sources_md(rows: list[dict], jsonl_rows: list[dict], jsonl_sha: str) -> str:
    lines = [
        "# Sample corpus sources",
        "",
        f"Every license text here comes from the npm package `{PACKAGE}@{VERSION}` (its "
        "`licenses/<id>.json` files), which republishes the SPDX license list. Each text is "
        "kept in its original wording and stays under its own terms. The files were written by "
        "`samples/regenerate_docs.py`; rerun it to rebuild them (the tarball's npm integrity is "
        f"`{INTEGRITY}`):",
        "",
        "```",
        f"cd \"$(mktemp -d)\" && npm pack {PACKAGE}@{VERSION} && tar xzf {PACKAGE}-{VERSION}.tgz",
        "python samples/regenerate_docs.py \"$PWD/package\"",
        "```",
        "",
        "Formats: `.txt` is the license text as published; `.md` adds a `# <name>` heading and an "
        "SPDX id / source line; `.html` wraps the text in a web page (cookie banner, nav, header, "
        "scripts, styles, footer) with the license in `<main><article>`; `.pdf` (fpdf2, Helvetica) "
        "and `.docx` (python-docx) carry a title (unless the text opens with its own) and one "
        "paragraph per license paragraph; "
        f"`{JSONL_NAME}` holds one short license per line as `{{id, title, url, text}}`.",
        "",
        "This file describes the corpus and is not one of its documents.",
        "",
        "Planted for the dedup stage (each copy's name sorts after its original's, so a "
        "keep-first dedup over sorted paths keeps the published text):",
        "",
    ]
    for r in rows:
        if r["role"] == "exact-duplicate":
            lines.append(f"- `{r['file']}` is an **exact duplicate** of `{r['of']}`: byte-identical content "
                         "(so this `.md` has no added heading).")
        if r["role"] == "near-duplicate":
            edits = "; ".join(f"`{a}` -> `{b}`" for a, b in NEAR_DUP_EDITS[r["file"]])
            lines.append(f"- `{r['file']}` is a **near-duplicate** of `{r['of']}`, made "
                         f"by the script's edits, not a published license: {edits}.")
    lines += [
        "",
        "| file | SPDX id | name | source URL | package | sha256 | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        note = f"{r['role']} of `{r['of']}`" if r["role"] else ""
        lines.append(
            f"| `{r['file']}` | {r['id']} | {r['name']} | {r['url']} | `{PACKAGE}@{VERSION}` | "
            f"`{r['sha256']}` | {note} |"
        )
    ids = ", ".join(r["id"] for r in jsonl_rows)
    lines.append(
        f"| `{JSONL_NAME}` | {ids} | (one per line) | (per line, below) | `{PACKAGE}@{VERSION}` | "
        f"`{jsonl_sha}` | |"
    )
    lines += [
        "",
        f"Lines of `{JSONL_NAME}`, in order:",
        "",
        "| line | SPDX id | name | source URL |",
        "| --- | --- | --- | --- |",
    ]
    for i, r in enumerate(jsonl_rows, 1):
        lines.append(f"| {i} | {r['id']} | {r['name']} | {r['url']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "package", type=Path, help="unpacked npm package folder (holds package.json, licenses/)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "docs")
    parser.add_argument("--no-verify", action="store_true", help="skip reading the files back")
    args = parser.parse_args(argv)

    meta = json.loads((args.package / "package.json").read_text(encoding="utf-8"))
    if (meta.get("name"), meta.get("version")) != (PACKAGE, VERSION):
        print(f"warning: expected {PACKAGE}@{VERSION}, got {meta.get('name')}@{meta.get('version')}",
              file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)

    rows, expected, rendered, text_bytes = [], {}, {}, 0
    for doc in DOCS:
        lic = load_license(args.package, doc.spdx)
        text = license_text(lic, doc)
        # The exact duplicate is a byte copy of its original under another name and extension.
        data = rendered[doc.of] if doc.role == "exact-duplicate" else RENDER[doc.fmt](lic, text)
        rendered[doc.filename] = data
        (args.out / doc.filename).write_bytes(data)
        expected[doc.filename] = text
        text_bytes += len(text.encode("utf-8"))
        rows.append({**lic, "file": doc.filename, "role": doc.role, "of": doc.of, "sha256": sha256(data)})

    data, jsonl_rows = render_jsonl(args.package)
    (args.out / JSONL_NAME).write_bytes(data)
    text_bytes += sum(len(r["text"].encode("utf-8")) for r in jsonl_rows)

    sources = sources_md(rows, jsonl_rows, sha256(data))
    (args.out / "SOURCES.md").write_text(sources, encoding="utf-8", newline="\n")
    print(f"wrote {len(rows) + 1} documents + SOURCES.md to {args.out}; license text {text_bytes} bytes")
    if not args.no_verify:
        verify(args.out, expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
