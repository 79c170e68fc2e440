"""Uploads: type read from the bytes, size caps, stored outside static/, served safely.

A file is accepted only if its first bytes say it is one of the kinds below;
what the browser claims and the file name do not count. SVG, HTML and anything
else that a browser could run is refused, however it is named. Files live in
``<instance>/media/<ab>/<sha256>`` and are served by ``send_media()`` (with
range requests, so a video can be scrubbed) or, behind nginx, by nginx itself
through ``X-Accel-Redirect`` once the app has checked access.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from flask import Response, send_file
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import MediaFile
from kiosk.security.headers import MEDIA_CONTENT_SECURITY_POLICY
from kiosk.services import audit
from kiosk.services.audit import Actor

MB: Final = 1024 * 1024


@dataclass(frozen=True)
class Kind:
    """One accepted kind of file."""

    content_type: str
    extension: str
    family: str  # "image", "pdf", "audio", "video", "captions"
    max_bytes: int


KINDS: Final = {
    "image/jpeg": Kind("image/jpeg", "jpg", "image", 8 * MB),
    "image/png": Kind("image/png", "png", "image", 8 * MB),
    "image/gif": Kind("image/gif", "gif", "image", 8 * MB),
    "image/webp": Kind("image/webp", "webp", "image", 8 * MB),
    "application/pdf": Kind("application/pdf", "pdf", "pdf", 50 * MB),
    "audio/mpeg": Kind("audio/mpeg", "mp3", "audio", 100 * MB),
    "audio/ogg": Kind("audio/ogg", "ogg", "audio", 100 * MB),
    "audio/mp4": Kind("audio/mp4", "m4a", "audio", 100 * MB),
    "video/mp4": Kind("video/mp4", "mp4", "video", 1024 * MB),
    "video/webm": Kind("video/webm", "webm", "video", 1024 * MB),
    # Captions and subtitles for video and sound (WebVTT). Served as text/vtt with nosniff
    # and a sandbox, so a cue that looks like markup is never run as a page.
    "text/vtt": Kind("text/vtt", "vtt", "captions", 2 * MB),
}
# The largest upload any form may send; routes that take files raise their limit to this.
MAX_UPLOAD: Final = max(k.max_bytes for k in KINDS.values()) + MB
_SNIFF_BYTES: Final = 64
_CHUNK: Final = 1024 * 1024


class MediaError(DomainError):
    """An upload was refused."""


class UnsupportedFile(MediaError):
    """The bytes are not one of the accepted kinds."""

    status = 415
    default_message = _l(
        "This kind of file cannot be uploaded. Use a picture (JPEG, PNG, GIF, WebP), a PDF, "
        "sound (MP3, Ogg, M4A) or video (MP4, WebM)."
    )


class FileTooLarge(MediaError):
    """Over the cap of its kind."""

    status = 413


class EmptyFile(MediaError):
    """Nothing was sent."""

    default_message = _l("The file is empty.")


def sniff(head: bytes) -> Kind | None:
    """The kind of a file from its first bytes, or None when it is not an accepted one."""
    if head.startswith(b"\xff\xd8\xff"):
        return KINDS["image/jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return KINDS["image/png"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return KINDS["image/gif"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return KINDS["image/webp"]
    if head.startswith(b"%PDF-"):
        return KINDS["application/pdf"]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return KINDS["audio/mp4"]
        return KINDS["video/mp4"]
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head:
        return KINDS["video/webm"]
    if head.startswith(b"OggS"):
        return KINDS["audio/ogg"]
    vtt = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if vtt.startswith(b"WEBVTT") and (len(vtt) == 6 or vtt[6:7] in (b" ", b"\t", b"\n", b"\r")):
        return KINDS["text/vtt"]
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return KINDS["audio/mpeg"]
    return None


def media_root(instance_path: Path) -> Path:
    """Where uploaded files are kept (outside static/, never served by path)."""
    return instance_path / "media"


def path_of(instance_path: Path, sha256: str) -> Path:
    """The file of a content hash."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256 hex digest")
    return media_root(instance_path) / sha256[:2] / sha256


def clean_name(name: str, extension: str) -> str:
    """A harmless display name with the extension of the real type."""
    base = unicodedata.normalize("NFC", os.path.basename(name.replace("\\", "/")))
    base = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", base).strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = stem[: MediaFile.NAME_MAX - 10] or "file"
    return f"{stem}.{extension}"


def store(
    session: Session,
    *,
    actor: Actor,
    instance_path: Path,
    stream: IO[bytes],
    filename: str,
    purpose: str,
    facility_id: int | None,
    staff_id: int | None,
    now: dt.datetime,
    families: frozenset[str] | None = None,
) -> MediaFile:
    """Check and keep an uploaded file; ``families`` limits the kinds a form accepts."""
    head = stream.read(_SNIFF_BYTES)
    if not head:
        raise EmptyFile(field="file")
    kind = sniff(head)
    if kind is None or (families is not None and kind.family not in families):
        raise UnsupportedFile(field="file")
    root = media_root(instance_path)
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > kind.max_bytes:
                    raise FileTooLarge(
                        _l("The file is too large: at most %(mb)d MB.", mb=kind.max_bytes // MB),
                        field="file",
                    )
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(_CHUNK)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        final = path_of(instance_path, sha)
        final.parent.mkdir(exist_ok=True)
        # Identical bytes are kept once; the rename is atomic, so no reader sees half a file.
        os.replace(tmp, final)
        os.chmod(final, 0o640)
    finally:
        tmp.unlink(missing_ok=True)
    with unit_of_work(session):
        media = MediaFile(
            sha256=sha,
            content_type=kind.content_type,
            size=size,
            original_name=clean_name(filename or "file", kind.extension),
            purpose=purpose,
            facility_id=facility_id,
            uploaded_by_id=staff_id,
            created_at=now,
        )
        session.add(media)
        session.flush()
        audit.record(
            session,
            "media.upload",
            actor=actor,
            obj=media,
            at=now,
            details={"type": kind.content_type, "size": size, "purpose": purpose},
        )
    return media


def send_media(
    media: MediaFile,
    *,
    instance_path: Path,
    accel_prefix: str | None,
    inline: bool = True,
) -> Response:
    """The file as a response: range requests, its real type, never sniffed or run.

    Access must be checked by the caller first. Behind nginx (``accel_prefix``), nginx
    streams the file from an internal location and handles ranges itself.
    """
    disposition = "inline" if inline else "attachment"
    if accel_prefix:
        response = Response(status=200, mimetype=media.content_type)
        response.headers["X-Accel-Redirect"] = (
            f"{accel_prefix.rstrip('/')}/{media.sha256[:2]}/{media.sha256}"
        )
    else:
        response = send_file(
            path_of(instance_path, media.sha256),
            mimetype=media.content_type,
            as_attachment=not inline,
            download_name=media.original_name,
            conditional=True,
            etag=media.sha256,
        )
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename*=UTF-8''{_quote(media.original_name)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A PDF opened on its own runs in a sandbox: no script, no forms, no navigation.
    response.headers["Content-Security-Policy"] = MEDIA_CONTENT_SECURITY_POLICY
    # The app's own headers then add Cache-Control: no-store (shared terminals).
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
