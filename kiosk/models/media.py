"""Uploaded files (course media, product pictures): stored outside static/, by content hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, utcnow


class MediaFile(Base):
    """One uploaded file. Who may see it is decided by the object that uses it."""

    __tablename__ = "media_files"

    NAME_MAX = 200

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the bytes: the file's name in the media folder; equal uploads share it.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # The type read from the bytes themselves, never the one the browser claimed.
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(String(NAME_MAX))
    # Which area it belongs to ("course", "product", ...), for housekeeping.
    purpose: Mapped[str] = mapped_column(String(32))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
