"""Uploads: the type comes from the bytes; disguised files are refused; files stream in ranges."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from conftest import audit_actions
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.services import audit as audit_service
from kiosk.services import media

ACTOR = audit_service.Actor.system("test")

SAMPLES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100,
    "image/png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    "image/gif": b"GIF89a" + b"\x00" * 100,
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 100,
    "application/pdf": b"%PDF-1.7\n" + b"\x00" * 100,
    "video/mp4": b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100,
    "audio/mp4": b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 100,
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    + b"\x00" * 80,
    "audio/ogg": b"OggS\x00\x02" + b"\x00" * 100,
    "audio/mpeg": b"ID3\x04\x00" + b"\x00" * 100,
}

DISGUISED = [
    ("lesson.pdf", b"<!doctype html><script>alert(1)</script>"),
    ("picture.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("picture.jpg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>'),
    ("video.mp4", b"MZ\x90\x00\x03 an executable"),
    ("notes.pdf", b"   %PDF-1.7 with leading spaces is not a PDF header"),
    ("page.webm", b"\x1a\x45\xdf\xa3 matroska (mkv) only " + b"\x00" * 40),
    ("doc.pdf", b"PK\x03\x04 a zip or office file"),
]


@pytest.mark.parametrize(("content_type", "data"), SAMPLES.items())
def test_accepted_kinds_are_read_from_the_bytes(content_type: str, data: bytes) -> None:
    kind = media.sniff(data[:64])
    assert kind is not None
    assert kind.content_type == content_type


@pytest.mark.parametrize(("name", "data"), DISGUISED)
def test_disguised_files_are_refused(
    name: str, data: bytes, db: Any, settings: Any, clock: FrozenClock
) -> None:
    with pytest.raises(media.UnsupportedFile):
        media.store(
            db,
            actor=ACTOR,
            instance_path=settings.instance_path,
            stream=io.BytesIO(data),
            filename=name,
            purpose="test",
            facility_id=None,
            staff_id=None,
            now=clock.now(),
        )
    assert not any(media.media_root(settings.instance_path).rglob("*")) or all(
        p.is_dir() for p in media.media_root(settings.instance_path).rglob("*")
    ), "nothing of a refused upload stays on disk"


def test_a_stored_file_keeps_its_real_type_and_a_clean_name(
    db: Any, settings: Any, clock: FrozenClock
) -> None:
    stored = media.store(
        db,
        actor=ACTOR,
        instance_path=settings.instance_path,
        stream=io.BytesIO(SAMPLES["image/png"]),
        filename="../../evil\x00name.html",
        purpose="test",
        facility_id=None,
        staff_id=None,
        now=clock.now(),
    )
    assert stored.content_type == "image/png"
    assert stored.original_name == "evil_name.png"
    path = media.path_of(settings.instance_path, stored.sha256)
    assert path.read_bytes() == SAMPLES["image/png"]
    static = Path(__file__).resolve().parent.parent / "kiosk" / "static"
    assert static not in path.parents
    assert "media.upload" in audit_actions(db)


def test_a_family_limit_refuses_other_kinds(db: Any, settings: Any, clock: FrozenClock) -> None:
    with pytest.raises(media.UnsupportedFile):
        media.store(
            db,
            actor=ACTOR,
            instance_path=settings.instance_path,
            stream=io.BytesIO(SAMPLES["application/pdf"]),
            filename="x.pdf",
            purpose="product",
            facility_id=None,
            staff_id=None,
            now=clock.now(),
            families=frozenset({"image"}),
        )


def test_an_oversized_file_is_refused_and_leaves_nothing(
    db: Any, settings: Any, clock: FrozenClock
) -> None:
    big = io.BytesIO(SAMPLES["image/png"] + b"\x00" * (8 * media.MB + 1))
    with pytest.raises(media.FileTooLarge):
        media.store(
            db,
            actor=ACTOR,
            instance_path=settings.instance_path,
            stream=big,
            filename="big.png",
            purpose="test",
            facility_id=None,
            staff_id=None,
            now=clock.now(),
        )
    leftovers = [p for p in media.media_root(settings.instance_path).rglob("*") if p.is_file()]
    assert leftovers == []


def test_media_is_served_with_ranges_its_type_and_no_sniffing(
    kiosk_app: Flask, db: Any, settings: Any, clock: FrozenClock
) -> None:
    video = SAMPLES["video/mp4"] + bytes(range(256)) * 40
    stored = media.store(
        db,
        actor=ACTOR,
        instance_path=settings.instance_path,
        stream=io.BytesIO(video),
        filename="film.mp4",
        purpose="test",
        facility_id=None,
        staff_id=None,
        now=clock.now(),
    )
    with kiosk_app.test_request_context("/", headers={"Range": "bytes=100-199"}):
        from flask import request

        response = media.send_media(stored, instance_path=settings.instance_path, accel_prefix=None)
        response = response.make_conditional(request)
        response.direct_passthrough = False
        assert response.status_code == 206
        assert response.get_data() == video[100:200]
        assert response.headers["Content-Range"] == f"bytes 100-199/{len(video)}"
        assert response.mimetype == "video/mp4"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("inline;")
        assert "sandbox" in response.headers["Content-Security-Policy"]


def test_behind_nginx_the_file_is_handed_over_with_x_accel_redirect(
    kiosk_app: Flask, db: Any, settings: Any, clock: FrozenClock
) -> None:
    stored = media.store(
        db,
        actor=ACTOR,
        instance_path=settings.instance_path,
        stream=io.BytesIO(SAMPLES["application/pdf"]),
        filename="a.pdf",
        purpose="test",
        facility_id=None,
        staff_id=None,
        now=clock.now(),
    )
    with kiosk_app.test_request_context("/"):
        response = media.send_media(
            stored, instance_path=settings.instance_path, accel_prefix="/_media/", inline=False
        )
    assert response.headers["X-Accel-Redirect"] == f"/_media/{stored.sha256[:2]}/{stored.sha256}"
    assert response.get_data() == b""
    assert response.headers["Content-Disposition"].startswith("attachment;")
