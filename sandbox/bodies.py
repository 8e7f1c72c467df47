"""Request and response bodies as HTTP/1.1 clients send and expect them.

Salesforce reads request bodies sent with `Transfer-Encoding: chunked` (jsforce's token
request and JSON bodies arrive so) and compressed ones (`Content-Encoding: gzip` or
`deflate`, "Compress Requests" in the REST API Developer Guide), on every resource; and it
compresses a response when the request's `Accept-Encoding` names gzip. requests (so
simple-salesforce) asks for gzip by default.

A body the sandbox cannot read is a `BodyError`: transport.py answers it with 400
`[{"errorCode": "JSON_PARSER_ERROR", "message": ...}]` (413 when it is too large), and
closes the connection when the chunked framing itself is broken.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Protocol

MAX_BODY_BYTES = 64 * 1024 * 1024  # decoded; more is refused (413)
# Responses smaller than this go uncompressed even when gzip is asked for: for a few
# hundred bytes the gzip header and the work cost more than they save. Measured on the
# 2-core VM: gzip level 1 of a 1,000-record Composite answer (71 KB) takes ~0.15 ms
# (level 6: 0.44 ms, level 9: 1.3 ms), ~2 % of the sandbox's own time for that call.
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1


class BodyError(Exception):
    """The body cannot be read. `fatal`: the connection's framing is lost (close it)."""

    def __init__(self, message: str, status: int = 400, fatal: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.fatal = fatal


class Reader(Protocol):
    """What a body is read from: a request handler's rfile (a buffered socket file)."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


def read_body(rfile: Reader, transfer_encoding: str, content_length: str | None) -> bytes:
    """The body as sent: chunked (RFC 9112 §7.1), by Content-Length, or none."""
    codings = [c.strip().lower() for c in transfer_encoding.split(",") if c.strip()]
    if codings:
        if codings != ["chunked"]:
            raise BodyError(
                f"Transfer-Encoding {transfer_encoding} is not supported (only chunked)",
                status=501,
                fatal=True,
            )
        return _read_chunked(rfile)
    if not content_length:
        return b""
    try:
        length = int(content_length)
    except ValueError:
        raise BodyError(f"bad Content-Length {content_length!r}", fatal=True) from None
    if length < 0:
        raise BodyError(f"bad Content-Length {content_length!r}", fatal=True)
    if length > MAX_BODY_BYTES:
        raise BodyError(_too_large(), status=413, fatal=True)
    return rfile.read(length)


def decode_body(body: bytes, content_encoding: str) -> bytes:
    """Undo `Content-Encoding` (gzip, deflate, identity), at most MAX_BODY_BYTES."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):  # listed in the order they were applied
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, coding)
        elif coding == "deflate":
            body = _inflate(body, zlib.MAX_WBITS | 32, coding)  # zlib-wrapped (or gzip)
        elif coding != "identity":
            raise BodyError(
                f"Content-Encoding {coding} is not supported (gzip, deflate or identity)"
            )
    return body


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows a gzip answer (`gzip;q=0` refuses it)."""
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = params.strip().lower()
        if quality.startswith("q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def compress(payload: bytes) -> bytes:
    return gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)


def _read_chunked(rfile: Reader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1026)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BodyError(f"bad chunk size line {line[:40]!r}", fatal=True) from None
        if size == 0:
            break
        total += size
        if total > MAX_BODY_BYTES:
            raise BodyError(_too_large(), status=413, fatal=True)
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise BodyError("chunked body ended early or a chunk lacks its CRLF", fatal=True)
        parts.append(chunk)
    while True:  # trailer fields, up to the empty line
        line = rfile.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
    return b"".join(parts)


def _inflate(body: bytes, wbits: int, coding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise BodyError(f"the request body is not valid {coding} data ({exc})") from None
    if len(out) > MAX_BODY_BYTES:
        raise BodyError(_too_large(), status=413)
    if not inflater.eof:
        raise BodyError(f"the request body is truncated {coding} data")
    return out


def _too_large() -> str:
    return f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB"
