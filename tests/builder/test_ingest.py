"""ingest_folder on a folder of real, broken and hostile files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.ingest import IngestResult, ingest_folder
from builder.ingest.parsers.docx import check_zip
from core.errors import ConfigError, InputFileError
from core.options.ingest import IngestOptions
from schemas.types import Document, FileOutcome
from tests.builder.hostile_files import (
    ELF,
    JSONL_WITH_BAD_LINES,
    PNG,
    SCRIPT_ONLY_PAGE,
    encrypt_pdf,
    make_docx,
    make_pdf,
    plain_zip,
    zip_bomb_docx,
)

HTML_PAGE = """<!doctype html>
<html><head><title>Pump manual</title>
<script>window.track = function () { return "tracking"; };</script>
<style>body { color: red }</style></head>
<body>
<header>Site header</header>
<nav class="navbar"><a href="/">Home</a></nav>
<div id="cookie-banner">We use cookies. <button>Accept</button></div>
<iframe src="https://ads.example.com/frame"></iframe>
<main>
  <h1>Installing the pump</h1>
  <p>Bolt the pump   to the <b>frame</b>.</p>
  <script>document.write("injected")</script>
  <ul><li>Check the seals.</li><li>Prime the line.</li></ul>
  <noscript>Enable JavaScript</noscript>
</main>
<aside>Related posts</aside>
<footer>Copyright footer</footer>
</body></html>
"""


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text("outside secret", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, outside: Path) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    good_pdf = make_pdf(
        "Quarterly report. Revenue grew by ten percent.", "Second page text.", title="Q3 Report"
    )
    files: dict[str, bytes] = {
        # good files
        "notes.txt": "\ufeffPlain notes about valves.\n".encode(),
        "guide.md": b"# Pump Guide\n\nKeep the text *as is*.\n",
        "docs/nested/deep.text": b"Nested folder text.",
        "page.html": HTML_PAGE.encode(),
        "report.pdf": good_pdf,
        "memo.docx": make_docx("Hello from Word.", "Second paragraph.", title="Memo"),
        "records.jsonl": JSONL_WITH_BAD_LINES,
        "caf\u00e9 \u65e5\u672c\nline.txt": b"Unicode and newline in the name.",
        # bad files
        "empty.txt": b"",
        "blank.md": b"  \n\t\n",
        "image.txt": PNG,
        "program.md": ELF,
        "nul.txt": b"abc\x00def",
        "latin1.txt": "Caf\u00e9 cr\u00e8me".encode("latin-1"),
        "utf16.txt": "hello".encode("utf-16"),
        "truncated.pdf": good_pdf[: len(good_pdf) // 2],
        "garbage.pdf": b"%PDF-1.7\nthis is not really a pdf\n%%EOF\n",
        "locked.pdf": encrypt_pdf(good_pdf, "secret"),
        "scan.pdf": make_pdf(""),
        "broken.docx": b"PK\x03\x04" + os.urandom(200),
        "archive.docx": plain_zip(),
        "bomb.docx": zip_bomb_docx(200),
        "scripts.html": SCRIPT_ONLY_PAGE.encode(),
        "data.xyz": b"some data",
        "legacy.doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
        "Makefile": b"all:\n\techo hi\n",
        # hidden: skipped silently
        ".env.txt": b"SECRET=1",
        ".git/config.txt": b"[core]",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink(outside / "secret.txt", root / "escape.txt")
    os.symlink(outside, root / "escape_dir")
    os.symlink(root / "notes.txt", root / "alias.txt")
    os.symlink(root / "docs", root / "docs_link")
    os.symlink(root / "missing.txt", root / "dangling.txt")
    return root


@pytest.fixture(scope="module")
def result(corpus: Path) -> IngestResult:
    return ingest_folder(corpus, IngestOptions())


def outcome(result: IngestResult, path: str) -> FileOutcome:
    matches = [f for f in result.files if f.path == path]
    assert len(matches) == 1, f"{path}: {matches}"
    return matches[0]


def doc(result: IngestResult, source: str) -> Document:
    matches = [d for d in result.documents if d.source == source]
    assert len(matches) == 1, f"{source}: {[d.source for d in result.documents]}"
    return matches[0]


# --- good files --------------------------------------------------------------


def test_plain_text_strips_bom_and_keeps_text(result: IngestResult) -> None:
    notes = doc(result, "notes.txt")
    assert notes.text == "Plain notes about valves.\n"
    assert notes.id == Document.make_id(notes.text)
    assert notes.mime == "text/plain"
    assert notes.metadata["format"] == "text"
    assert notes.metadata["size_bytes"] == len("\ufeffPlain notes about valves.\n".encode())
    assert outcome(result, "notes.txt") == FileOutcome(path="notes.txt", status="ok", documents=1)


def test_markdown_is_kept_verbatim_with_title(result: IngestResult) -> None:
    guide = doc(result, "guide.md")
    assert guide.text == "# Pump Guide\n\nKeep the text *as is*.\n"
    assert guide.title == "Pump Guide"
    assert doc(result, "docs/nested/deep.text").text == "Nested folder text."


def test_html_keeps_main_content_and_drops_chrome(result: IngestResult) -> None:
    page = doc(result, "page.html")
    assert page.title == "Pump manual"
    assert page.text == (
        "Installing the pump\n\nBolt the pump to the frame.\n\nCheck the seals.\n\nPrime the line."
    )
    for junk in ("tracking", "injected", "cookies", "Accept", "Home", "footer", "Related", "JavaScript"):
        assert junk not in page.text


def test_html_full_of_scripts_has_no_text(result: IngestResult) -> None:
    scripts = outcome(result, "scripts.html")
    assert (scripts.status, scripts.reason) == ("error", "no_text")
    assert "JavaScript" in scripts.message


def test_pdf_pages_are_joined_by_blank_lines(result: IngestResult) -> None:
    report = doc(result, "report.pdf")
    assert report.text == "Quarterly report. Revenue grew by ten percent.\n\nSecond page text."
    assert report.title == "Q3 Report"
    assert report.metadata["pages"] == 2
    assert report.mime == "application/pdf"


def test_docx_paragraphs_and_tables(result: IngestResult) -> None:
    memo = doc(result, "memo.docx")
    assert memo.text == "Hello from Word.\n\nSecond paragraph.\n\nTorque | 40 Nm"
    assert memo.title == "Memo"


def test_jsonl_keeps_good_lines_and_reports_bad_ones(result: IngestResult) -> None:
    first = doc(result, "records.jsonl#L1")
    assert first.text == "First record."
    assert first.title == "One"
    assert first.metadata["record_id"] == "r1"
    assert first.metadata["fields"] == {"lang": "en"}
    assert first.metadata["line"] == 1
    assert first.metadata["format"] == "jsonl"
    assert doc(result, "records.jsonl#L5").metadata["record_id"] == "4"
    assert doc(result, "records.jsonl#L10").text == "a full pair \U0001f600 is fine"
    assert outcome(result, "records.jsonl").documents == 3
    assert outcome(result, "records.jsonl").status == "ok"
    expected = {
        "records.jsonl#L2": "bad_jsonl_line",
        "records.jsonl#L3": "missing_field",
        "records.jsonl#L6": "bad_jsonl_line",
        "records.jsonl#L7": "missing_field",
        "records.jsonl#L8": "not_utf8",
        "records.jsonl#L9": "bad_jsonl_line",
    }
    for path, reason in expected.items():
        line = outcome(result, path)
        assert (line.status, line.reason) == ("error", reason)
    assert "'text'" in outcome(result, "records.jsonl#L3").message
    assert "records.jsonl#L4" not in {f.path for f in result.files}  # blank lines are not records


def test_unicode_and_newline_filenames(result: IngestResult) -> None:
    name = "caf\u00e9 \u65e5\u672c\nline.txt"
    assert doc(result, name).text == "Unicode and newline in the name."
    assert outcome(result, name).status == "ok"


def test_symlink_inside_root_is_read(result: IngestResult) -> None:
    assert doc(result, "alias.txt").text == doc(result, "notes.txt").text
    linked_dir = outcome(result, "docs_link")
    assert (linked_dir.status, linked_dir.reason) == ("skipped", "symlinked_dir")


# --- bad files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("empty.txt", "skipped", "empty"),
        ("blank.md", "skipped", "empty"),
        ("image.txt", "error", "binary"),
        ("program.md", "error", "binary"),
        ("nul.txt", "error", "binary"),
        ("archive.docx", "error", "binary"),
        ("legacy.doc", "skipped", "unsupported_format"),
        ("latin1.txt", "error", "not_utf8"),
        ("utf16.txt", "error", "not_utf8"),
        ("truncated.pdf", "error", "corrupt_pdf"),
        ("garbage.pdf", "error", "corrupt_pdf"),
        ("locked.pdf", "error", "encrypted_pdf"),
        ("scan.pdf", "error", "no_text"),
        ("broken.docx", "error", "corrupt_docx"),
        ("bomb.docx", "error", "zip_bomb"),
        ("data.xyz", "skipped", "unsupported_format"),
        ("Makefile", "skipped", "unsupported_format"),
        ("escape.txt", "error", "symlink_escape"),
        ("escape_dir", "error", "symlink_escape"),
        ("dangling.txt", "error", "unreadable"),
    ],
)
def test_bad_file_reason(result: IngestResult, path: str, status: str, reason: str) -> None:
    found = outcome(result, path)
    assert (found.status, found.reason) == (status, reason)
    assert found.documents == 0
    assert found.message
    assert not [d for d in result.documents if d.source.split("#")[0] == path]


def test_messages_say_what_to_do(result: IngestResult) -> None:
    latin = outcome(result, "latin1.txt").message
    assert "offset 3" in latin and "iconv" in latin and "0xE9" in latin
    assert "PNG" in outcome(result, "image.txt").message
    assert "ELF" in outcome(result, "program.md").message
    assert "word/document.xml" in outcome(result, "archive.docx").message
    assert "docx" in outcome(result, "legacy.doc").message
    assert "truncated" in outcome(result, "truncated.pdf").message
    assert "qpdf" in outcome(result, "locked.pdf").message
    assert "OCR" in outcome(result, "scan.pdf").message


def test_nothing_outside_the_root_is_read(result: IngestResult, outside: Path) -> None:
    assert all("outside secret" not in d.text for d in result.documents)
    assert all(not f.path.startswith("escape_dir/") for f in result.files)


def test_hidden_files_are_skipped_silently(result: IngestResult) -> None:
    assert not [f for f in result.files if f.path.startswith(".")]
    assert not [d for d in result.documents if d.source.startswith(".")]


def test_hidden_files_are_read_when_named(corpus: Path) -> None:
    picked = ingest_folder(corpus, IngestOptions(include=[".env.txt", ".git/*.txt"]))
    assert sorted(d.source for d in picked.documents) == [".env.txt", ".git/config.txt"]


def test_order_is_sorted_and_deterministic(corpus: Path, result: IngestResult) -> None:
    files = [d.source.split("#")[0] for d in result.documents]
    assert files == sorted(files)
    assert [f.path for f in result.files] == sorted(f.path for f in result.files)
    assert ingest_folder(corpus, IngestOptions()) == result


def test_every_file_gets_exactly_one_outcome(result: IngestResult) -> None:
    paths = [f.path for f in result.files if "#" not in f.path]
    assert len(paths) == len(set(paths))


# --- options and edge cases ----------------------------------------------------


def test_include_and_exclude_globs(corpus: Path) -> None:
    picked = ingest_folder(
        corpus, IngestOptions(include=["**/*.txt", "**/*.text"], exclude=["docs/**", "*1.txt"])
    )
    paths = {f.path for f in picked.files}
    assert "notes.txt" in paths and "image.txt" in paths
    assert "latin1.txt" not in paths and "docs/nested/deep.text" not in paths
    assert not any(p.endswith((".pdf", ".md", ".html", ".jsonl")) for p in paths)


def test_too_large_is_refused_without_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(8 << 30)  # sparse: reading it whole would take GBs of memory
    (tmp_path / "small.txt").write_text("fits", encoding="utf-8")
    found = ingest_folder(tmp_path, IngestOptions(max_file_bytes=1000))
    assert outcome(found, "huge.txt").reason == "too_large"
    assert "max_file_bytes" in outcome(found, "huge.txt").message
    assert doc(found, "small.txt").text == "fits"


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked.txt").write_text("private", encoding="utf-8")
    (tmp_path / "open.txt").write_text("public", encoding="utf-8")
    real_open = os.open

    def deny(path: os.PathLike[str] | str, flags: int, *args: int) -> int:
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    found = ingest_folder(tmp_path, IngestOptions())
    assert (outcome(found, "locked.txt").status, outcome(found, "locked.txt").reason) == (
        "error",
        "unreadable",
    )
    assert "chmod" in outcome(found, "locked.txt").message
    assert doc(found, "open.txt").text == "public"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_by_mode(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x", encoding="utf-8")
    secret.chmod(0)
    try:
        assert outcome(ingest_folder(tmp_path, IngestOptions()), "secret.txt").reason == "unreadable"
    finally:
        secret.chmod(0o600)


def test_undecodable_filename_bytes(tmp_path: Path) -> None:
    os.close(os.open(os.fsencode(tmp_path) + b"/bad\xff.txt", os.O_CREAT | os.O_WRONLY, 0o600))
    with open(os.fsencode(tmp_path) + b"/bad\xff.txt", "wb") as handle:
        handle.write(b"odd name")
    found = ingest_folder(tmp_path, IngestOptions())
    assert doc(found, "bad\\xff.txt").text == "odd name"
    found.model_dump_json()  # reports stay valid UTF-8


def test_jsonl_custom_fields(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text(
        '{"uid": 7, "body": "Custom field text.", "heading": "H"}\n', encoding="utf-8"
    )
    options = IngestOptions(jsonl_text_field="body", jsonl_id_field="uid", jsonl_title_field="heading")
    record = doc(ingest_folder(tmp_path, options), "q.jsonl#L1")
    assert (record.text, record.title, record.metadata["record_id"]) == ("Custom field text.", "H", "7")
    assert record.metadata["fields"] == {}


def test_jsonl_with_no_good_line(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("nope\n{}\n", encoding="utf-8")
    found = ingest_folder(tmp_path, IngestOptions())
    assert outcome(found, "bad.jsonl").reason == "no_text"
    assert outcome(found, "bad.jsonl#L1").reason == "bad_jsonl_line"
    assert outcome(found, "bad.jsonl#L2").reason == "missing_field"


def test_missing_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ingest_folder(tmp_path / "nope", IngestOptions())


def test_zip_ratio_is_checked_before_parsing() -> None:
    # 8 MiB is under the total-size limit, so only the compression ratio can catch it.
    with pytest.raises(InputFileError) as caught:
        check_zip(zip_bomb_docx(8), limit=10**9)
    assert caught.value.reason == "zip_bomb"
    check_zip(make_docx("fine"), limit=10**9)
