"""Real broken and hostile input files, built in memory for the ingest and build tests."""

from __future__ import annotations

import io
import zipfile

import docx
from fpdf import FPDF
from pypdf import PdfWriter

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)
ELF = b"\x7fELF\x02\x01\x01" + bytes(64)

SCRIPT_ONLY_PAGE = (
    "<html><head><script>var a = 1;</script></head><body>"
    + "<script>console.log('x');</script>" * 20
    + '<iframe src="https://example.com"></iframe>' * 5
    + "</body></html>"
)

# Lines 1, 5 and 10 are good records; every other non-blank line fails on its own.
JSONL_WITH_BAD_LINES = (
    b'{"id": "r1", "text": "First record.", "title": "One", "lang": "en"}\n'
    b"{broken json\n"
    b'{"body": "no text field here"}\n'
    b"\n"
    b'{"id": 4, "text": "Fourth record."}\n'
    b'["not", "an", "object"]\n'
    b'{"text": 42}\n'
    b'{"text": "caf\xe9"}\n'
    b'{"text": "half a pair \\ud800"}\n'
    b'{"text": "a full pair \\ud83d\\ude00 is fine"}\n'
)


def make_pdf(*pages: str, title: str = "") -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def make_docx(*paragraphs: str, title: str = "") -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    for text in paragraphs:
        document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Torque"
    table.cell(0, 1).text = "40 Nm"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=password, owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def zip_bomb_docx(inflated_mb: int) -> bytes:
    """A real docx plus a member of zeros: tiny on disk, `inflated_mb` MiB once inflated."""
    source = zipfile.ZipFile(io.BytesIO(make_docx("Looks harmless.")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bomb:
        for item in source.infolist():
            bomb.writestr(item, source.read(item))
        with bomb.open("word/media/zeros.bin", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(inflated_mb):
                member.write(chunk)
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/readme.txt", "not a word document")
    return buffer.getvalue()
