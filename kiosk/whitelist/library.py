"""Offline libraries: ZIM archives (Kiwix's format) read with python-libzim.

An archive is opened read-only from the instance's zim folder by a bare file name that
staff chose from the folder listing; entries are looked up by their path inside the
archive (never on the file system). Pages go through the same cleaning as the web
reader, so nothing in an archive can load anything from outside.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from libzim.reader import Archive  # type: ignore[import-untyped]

# libzim (its C++ library, about 5 MB resident) is imported where an archive is first
# opened or searched, not when the app starts: a worker that never opens a library
# never holds it.

from kiosk.whitelist.fetch import kind_of

_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.zim", re.ASCII)
_MAX_REDIRECTS: Final = 10
MAX_ENTRY_BYTES: Final = 20_000_000
SEARCH_LIMIT: Final = 25

_OPEN: dict[Path, tuple[float, Archive]] = {}
_LOCK = threading.Lock()


class LibraryMissing(Exception):
    """The archive file is not there (or is not a ZIM file)."""


def valid_file_name(name: str) -> bool:
    """True for a bare ``*.zim`` file name (no folder, no hidden file)."""
    return bool(_FILE_NAME.fullmatch(name))


def zim_files(folder: Path) -> list[str]:
    """The ZIM files a site has put in its zim folder, by name."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and valid_file_name(p.name))


@dataclass(frozen=True)
class Entry:
    """One entry read from an archive."""

    path: str
    title: str
    mimetype: str
    content: bytes

    @property
    def kind(self) -> str | None:
        """ "page", "image", "pdf" or None (styles, scripts, fonts and the rest are not served)."""
        return kind_of(self.mimetype.split(";", 1)[0].strip().lower())


@dataclass(frozen=True)
class Hit:
    """One search result."""

    path: str
    title: str


class Library:
    """One opened archive."""

    def __init__(self, folder: Path, file_name: str) -> None:
        if not valid_file_name(file_name):
            raise LibraryMissing(file_name)
        path = (folder / file_name).resolve()
        if path.parent != folder.resolve() or not path.is_file():
            raise LibraryMissing(file_name)
        self.archive = _open(path)

    @property
    def title(self) -> str:
        """The archive's own title (metadata), or empty."""
        try:
            return bytes(self.archive.get_metadata("Title")).decode("utf-8", "replace")[:200]
        except (KeyError, RuntimeError):
            return ""

    def main_path(self) -> str | None:
        """The path of the main page."""
        if not self.archive.has_main_entry:
            return None
        entry = self._follow(self.archive.main_entry)
        return str(entry.path) if entry is not None else None

    def _follow(self, entry: Any) -> Any:
        for _ in range(_MAX_REDIRECTS):
            if not entry.is_redirect:
                return entry
            entry = entry.get_redirect_entry()
        return None

    def get(self, path: str) -> Entry | None:
        """The entry at ``path`` (redirects followed), or None."""
        if not path or len(path) > 1000:
            return None
        try:
            if not self.archive.has_entry_by_path(path):
                return None
            entry = self._follow(self.archive.get_entry_by_path(path))
        except (KeyError, RuntimeError, UnicodeError):
            return None
        if entry is None:
            return None
        item = entry.get_item()
        if item.size > MAX_ENTRY_BYTES:
            return None
        return Entry(
            path=str(entry.path),
            title=str(entry.title),
            mimetype=str(item.mimetype),
            content=bytes(item.content),
        )

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[Hit]:
        """Title matches first, then full-text matches, without repeats."""
        text = text.strip()[:200]
        if not text:
            return []
        found: list[str] = []
        from libzim.search import Query, Searcher  # type: ignore[import-untyped]
        from libzim.suggestion import SuggestionSearcher  # type: ignore[import-untyped]

        if self.archive.has_title_index:
            suggestion = SuggestionSearcher(self.archive).suggest(text)
            found.extend(suggestion.getResults(0, limit))
        if self.archive.has_fulltext_index:
            search = Searcher(self.archive).search(Query().set_query(text))
            found.extend(search.getResults(0, limit))
        hits: list[Hit] = []
        seen: set[str] = set()
        for path in found:
            if path in seen or len(hits) >= limit:
                continue
            seen.add(path)
            try:
                entry = self.archive.get_entry_by_path(path)
            except KeyError:
                continue
            hits.append(Hit(path=str(path), title=str(entry.title) or str(path)))
        return hits


def _open(path: Path) -> Archive:
    """An archive, opened once per file version and shared (reading is thread-safe)."""
    stamp = path.stat().st_mtime
    with _LOCK:
        cached = _OPEN.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        import libzim.reader  # type: ignore[import-untyped]

        try:
            archive = libzim.reader.Archive(str(path))
        except RuntimeError as exc:
            raise LibraryMissing(path.name) from exc
        if len(_OPEN) > 32:
            _OPEN.clear()
        _OPEN[path] = (stamp, archive)
        return archive
