"""Translation catalogs: merge new translations into a language and check completeness.

python scripts/catalog.py check             # every message translated, .mo up to date
python scripts/catalog.py merge sv FILE.py  # add the translations in FILE.py (a dict SV)
"""

from __future__ import annotations

import io
import runpy
import sys
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "kiosk" / "translations"
LANGUAGES = ("sv",)


def po_path(lang: str) -> Path:
    """The .po file of a language."""
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def compiled(lang: str) -> bytes:
    """The .mo bytes the .po file compiles to."""
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _messages(mo: bytes) -> dict[object, object]:
    """What a compiled catalog says, without the header (it names Babel's version)."""

    def frozen(value: object) -> object:
        # Plural messages come back as lists (msgid and msgid_plural; one string per form).
        return tuple(value) if isinstance(value, list) else value

    return {frozen(m.id): frozen(m.string) for m in read_mo(io.BytesIO(mo)) if m.id}


def problems(lang: str) -> list[str]:
    """Untranslated, fuzzy or missing messages, and a stale .mo file."""
    with (TRANSLATIONS / "messages.pot").open("rb") as fh:
        template = read_po(fh)
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    found = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id)
        if entry is None:
            found.append(f"{lang}: missing {message.id!r}")
        elif not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
            found.append(f"{lang}: untranslated {message.id!r}")
        elif entry.fuzzy:
            found.append(f"{lang}: fuzzy {message.id!r}")
    mo = po_path(lang).with_suffix(".mo")
    if not mo.exists() or _messages(mo.read_bytes()) != _messages(compiled(lang)):
        found.append(
            f"{lang}: {mo.relative_to(ROOT)} is not compiled from the .po (make translations)"
        )
    return found


def merge(lang: str, source: Path) -> None:
    """Fill empty or fuzzy translations of ``lang`` from a Python file defining a dict SV."""
    table = runpy.run_path(str(source))["SV"]
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    for message in catalog:
        if message.id in table and (not message.string or message.fuzzy):
            message.string = table[message.id]
            message.flags.discard("fuzzy")
    with po_path(lang).open("wb") as fh:
        write_po(fh, catalog, width=0, no_location=True, sort_output=True)


def union(lang: str, other: Path) -> None:
    """Fill empty or fuzzy translations of ``lang`` from another .po file (merging branches)."""
    with other.open("rb") as fh:
        theirs = read_po(fh, locale=lang)
    table = {m.id: m.string for m in theirs if m.id and m.string and not m.fuzzy}
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    for message in catalog:
        if message.id in table and (not message.string or message.fuzzy):
            message.string = table[message.id]
            message.flags.discard("fuzzy")
    with po_path(lang).open("wb") as fh:
        write_po(fh, catalog, width=0, no_location=True, sort_output=True)


def main(argv: list[str]) -> int:
    """Command line."""
    if argv[:1] == ["check"]:
        found = [p for lang in LANGUAGES for p in problems(lang)]
        for line in found:
            print(line)
        return 1 if found else 0
    if argv[:1] == ["union"] and len(argv) == 3:
        union(argv[1], Path(argv[2]))
        return 0
    if argv[:1] == ["merge"] and len(argv) == 3:
        merge(argv[1], Path(argv[2]))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
