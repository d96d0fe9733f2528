"""What a stored file is called and what it holds: filename sanitising and content sniffing.

Names lose directory parts (``/`` and ``\\``), control and format characters
and the characters Windows forbids, are NFC-normalised and cut to 200 bytes
of UTF-8 with the extension kept. The content type comes from the first
bytes (a small magic-number table), never from the client.
"""

from __future__ import annotations

import posixpath
import unicodedata

MAX_NAME_BYTES = 200
SNIFF_BYTES = 512
FORBIDDEN = frozenset('<>:"|?*')
OCTET = "application/octet-stream"

# (offset, magic, content type), first match wins.
MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (8, b"WEBP", "image/webp"),
    (8, b"WAVE", "audio/wav"),
    (8, b"AVI ", "video/x-msvideo"),
    (4, b"ftyp", "video/mp4"),
    (0, b"OggS", "application/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"{\\rtf", "application/rtf"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"MZ", "application/vnd.microsoft.portable-executable"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
)
# Zip and OLE containers whose extension says which office format they are.
CONTAINERS = {
    "application/zip": {
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt": "application/vnd.oasis.opendocument.text",
        "ods": "application/vnd.oasis.opendocument.spreadsheet",
        "jar": "application/java-archive",
    },
    "application/x-ole-storage": {
        "doc": "application/msword",
        "xls": "application/vnd.ms-excel",
        "ppt": "application/vnd.ms-powerpoint",
        "msg": "application/vnd.ms-outlook",
    },
}
TEXT_TYPES = {
    "html": "text/html",
    "htm": "text/html",
    "csv": "text/csv",
    "json": "application/json",
    "xml": "application/xml",
    "svg": "image/svg+xml",
    "md": "text/markdown",
}


def sanitize_filename(raw: str | None, default: str = "file") -> str:
    """A safe display and download name for what the client called the file."""
    name = posixpath.basename((raw or "").replace("\\", "/"))
    name = unicodedata.normalize("NFC", name)
    name = "".join(
        c
        for c in name
        if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
        and c not in FORBIDDEN
    )
    name = name.strip().lstrip(".").strip()
    if not name:
        return default
    return _cut(name)


def _cut(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16 or not stem:
        stem, ext = name, ""
    room = MAX_NAME_BYTES - (len(ext.encode()) + 1 if ext else 0)
    stem = stem.encode()[:room].decode("utf-8", "ignore")
    return f"{stem}.{ext}" if ext else stem


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def sniff(head: bytes, filename: str = "") -> str:
    """The content type the first bytes show (the extension only refines containers/text)."""
    ext = extension(filename)
    for offset, magic, kind in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return CONTAINERS.get(kind, {}).get(ext, kind)
    if not head:
        return "text/plain" if ext in ("txt", "") else OCTET
    if b"\x00" in head:
        return OCTET
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed bytes is still text.
        if exc.start < len(head) - 3:
            return OCTET
        text = head[: exc.start].decode("utf-8")
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return "text/html"
    if lowered.startswith("<?xml"):
        return (
            TEXT_TYPES.get(ext, "application/xml") if ext in ("svg", "xml") else "application/xml"
        )
    if lowered.startswith("%!ps"):
        return "application/postscript"
    return TEXT_TYPES.get(ext, "text/plain") if ext in TEXT_TYPES else "text/plain"
