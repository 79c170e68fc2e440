"""Offline libraries (ZIM archives) in the portal: main page, search, articles, pictures.

Pages are cleaned like the web reader's: links inside the archive stay in the library,
links to whitelisted sites go through the reader, every other link becomes plain text,
and pictures come only from the archive itself.
"""

from __future__ import annotations

from urllib.parse import unquote

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from kiosk.errors import NotFound
from kiosk.i18n import _
from kiosk.models import Inmate, OfflineLibrary, VisitVerdict
from kiosk.services import whitelist as service
from kiosk.web import access
from kiosk.web.context import db, now, terminal, user
from kiosk.web.state import get_state
from kiosk.whitelist import reader as reader_html
from kiosk.whitelist.library import Library, LibraryMissing

bp = Blueprint("library", __name__, url_prefix="/library")

# Links inside an archive are made absolute against this made-up origin, then mapped back.
_ORIGIN = "https://library.invalid"


def _inmate() -> Inmate:
    who = user()
    assert isinstance(who, Inmate)  # noqa: S101 - the routes are for inmates only
    return who


def _open(library_id: int) -> tuple[OfflineLibrary, Library]:
    row = service.library_for(db(), _inmate(), library_id)
    try:
        return row, Library(get_state().settings.zim_folder, row.file_name)
    except LibraryMissing:
        raise NotFound() from None


def _log(row: OfflineLibrary, path: str, verdict: VisitVerdict, reason: str) -> None:
    term = terminal()
    service.record_visit(
        db(),
        inmate=_inmate(),
        terminal_id=term.id if term else None,
        url=f"library:{row.id}/{path}",
        verdict=verdict,
        reason=reason,
        kind="library",
        now=now(),
    )


@bp.get("/<id:library_id>/")
@access.inmate()
def home(library_id: int) -> ResponseReturnValue:
    """The library's main page."""
    row, library = _open(library_id)
    main = library.main_path()
    if main is None:
        return redirect(url_for("library.search", library_id=row.id))
    return redirect(url_for("library.article", library_id=row.id, path=main))


@bp.get("/<id:library_id>/search")
@access.inmate()
@access.rate_limited("60/minute", methods=("GET",))
def search(library_id: int) -> ResponseReturnValue:
    """Title and full-text search."""
    row, library = _open(library_id)
    text = request.args.get("q", "")[:200]
    hits = library.search(text) if text.strip() else []
    return render_template("library/search.html", library=row, text=text, hits=hits)


@bp.get("/<id:library_id>/a/<path:path>")
@access.inmate()
@access.rate_limited("300/minute", methods=("GET",))
def article(library_id: int, path: str) -> ResponseReturnValue:
    """One entry: a cleaned page, a picture, or a PDF download."""
    row, library = _open(library_id)
    entry = library.get(path)
    if entry is None or entry.kind is None:
        _log(row, path, VisitVerdict.FAILED, "not_found")
        html = render_template(
            "reader/refused.html",
            url=path,
            refused=False,
            reason=service.reason_text("not_found"),
            form=None,
        )
        return make_response(html, 404)
    if entry.kind == "image":
        response = make_response(entry.content)
        response.headers["Content-Type"] = entry.mimetype.split(";", 1)[0].strip().lower()
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
    if entry.kind == "pdf":
        response = make_response(entry.content)
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = 'attachment; filename="document.pdf"'
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        _log(row, path, VisitVerdict.ALLOWED, "allowed")
        return response
    _log(row, path, VisitVerdict.ALLOWED, "allowed")
    inside = f"{_ORIGIN}/{row.id}/a/"
    whitelist = service.whitelist_for(db(), _inmate(), now())
    to_reader = reader_html.through_whitelist(
        whitelist, lambda target: url_for("reader.view", url=target)
    )

    def link_for(target: str) -> str | None:
        if target.startswith(inside):
            rest = target[len(inside) :].split("#", 1)
            inner = unquote(rest[0].split("?", 1)[0])
            anchor = f"#{rest[1]}" if len(rest) > 1 else ""
            return url_for("library.article", library_id=row.id, path=inner) + anchor
        return to_reader(target)

    def image_for(target: str) -> str | None:
        if target.startswith(inside):
            inner = unquote(target[len(inside) :].split("#", 1)[0].split("?", 1)[0])
            return url_for("library.article", library_id=row.id, path=inner)
        # Pictures from outside the archive are never loaded, whitelisted or not.
        return None

    text = reader_html.decode(entry.content, "")
    title, body = reader_html.render(
        text,
        base_url=inside + entry.path,
        link_for=link_for,
        image_for=image_for,
        unavailable=_("not available"),
    )
    return render_template(
        "library/article.html",
        library=row,
        title=title or entry.title,
        body=Markup(body),  # noqa: S704 - cleaned by clean_reader_html in render()
    )
