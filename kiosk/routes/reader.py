"""The reader: whitelisted learning sites through the server, cleaned, every visit logged.

The terminal never talks to another server: it asks this one for ``/reader/view?url=...``;
the server checks the URL against the inmate's whitelist, fetches it (or takes it from
the cache), strips everything active and rewrites links and pictures to come back here.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import select
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from kiosk.i18n import _, _l
from kiosk.models import (
    Inmate,
    SiteRequest,
    VisitVerdict,
)
from kiosk.routes.tiles import Tile, register_tile
from kiosk.services import whitelist as service
from kiosk.web import access
from kiosk.web.context import actor, db, now, terminal, user
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state
from kiosk.whitelist import Whitelist
from kiosk.whitelist import reader as reader_html
from kiosk.whitelist.fetch import (
    Connector,
    Fetcher,
    FetchError,
    Limits,
    Resolver,
    system_connector,
    system_resolver,
)

bp = Blueprint("reader", __name__, url_prefix="/reader")

register_tile(
    Tile(
        endpoint="reader.index",
        title=_l("Learning sites"),
        description=_l("Read approved websites and offline libraries."),
        icon="globe",
        order=300,
    )
)

PAGE_KINDS = frozenset({"page", "image", "pdf"})
IMAGE_KINDS = frozenset({"image"})


@dataclass
class ReaderNetwork:
    """How the reader reaches the network (tests replace these with local stand-ins)."""

    resolver: Resolver = system_resolver
    connector: Connector = system_connector
    ssl_context: ssl.SSLContext | None = None
    # Only tests let an on-site mirror rule reach loopback (their upstream runs there).
    allow_loopback_mirrors: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def network() -> ReaderNetwork:
    """This app's reader network settings, made once."""
    found = current_app.extensions.get("whitelist_network")
    if isinstance(found, ReaderNetwork):
        return found
    settings = get_state().settings
    context = ssl.create_default_context()
    if settings.whitelist_ca_file:
        context.load_verify_locations(cafile=settings.whitelist_ca_file)
    made = ReaderNetwork(ssl_context=context)
    current_app.extensions["whitelist_network"] = made
    return made


class AskForm(BaseForm):
    """An inmate asks for a site to be added."""

    url = StringField(
        _l("Address of the site"),
        validators=[
            DataRequired(_l("Give the address.")),
            Length(max=SiteRequest.URL_MAX),
        ],
        filters=[strip_filter],
    )
    reason = TextAreaField(
        _l("Why do you need it?"),
        validators=[
            DataRequired(_l("Say why you need it.")),
            Length(max=SiteRequest.REASON_MAX),
        ],
        filters=[strip_filter],
    )


def _inmate() -> Inmate:
    who = user()
    assert isinstance(who, Inmate)  # noqa: S101 - the routes are for inmates only
    return who


def _fetcher(whitelist: Whitelist) -> Fetcher:
    settings = get_state().settings
    net = network()
    return Fetcher(
        whitelist,
        limits=Limits(
            timeout=settings.whitelist_timeout_seconds, max_bytes=settings.whitelist_max_bytes
        ),
        resolver=net.resolver,
        connector=net.connector,
        ssl_context=net.ssl_context,
        allow_loopback_mirrors=net.allow_loopback_mirrors,
    )


def _log(
    inmate: Inmate,
    url: str,
    verdict: VisitVerdict,
    reason: str,
    *,
    rule_id: int | None = None,
    kind: str = "page",
    status: int | None = None,
) -> None:
    term = terminal()
    service.record_visit(
        db(),
        inmate=inmate,
        terminal_id=term.id if term else None,
        url=url,
        verdict=verdict,
        reason=reason,
        rule_id=rule_id,
        kind=kind,
        upstream_status=status,
        now=now(),
    )


def _refusal(url: str, reason: str, status: int, *, refused: bool) -> Response:
    form = AskForm(data={"url": url[: SiteRequest.URL_MAX]})
    html = render_template(
        "reader/refused.html",
        url=url,
        refused=refused,
        reason=service.reason_text(reason),
        form=form,
    )
    return make_response(html, status)


def _status_for(error: FetchError) -> int:
    if error.refused:
        return 403
    if error.reason == "not_found":
        return 404
    # The upstream failed (timeout, size, unreachable): the page cannot be shown. A 4xx,
    # because nothing is wrong with this server and nothing should retry automatically.
    return 422


@bp.get("/")
@access.inmate()
def index() -> str:
    """Start page: an address field, the approved sites and the offline libraries."""
    inmate = _inmate()
    rules = service.rules_in_force(
        db(), facility_id=inmate.facility_id, unit_id=inmate.unit_id, now=now()
    )
    libraries = service.libraries_for(db(), inmate)
    requests = list(
        db().scalars(
            select(SiteRequest)
            .where(SiteRequest.inmate_id == inmate.id)
            .order_by(SiteRequest.created_at.desc(), SiteRequest.id.desc())
            .limit(10)
        )
    )
    return render_template(
        "reader/index.html",
        rules=rules,
        libraries=libraries,
        requests=requests,
        form=AskForm(),
    )


@bp.get("/view")
@access.inmate()
@access.rate_limited("60/minute", methods=("GET",))
def view() -> ResponseReturnValue:
    """One page of a whitelisted site, cleaned; or a clear refusal."""
    inmate = _inmate()
    raw = request.args.get("url", "").strip()
    if not raw:
        return redirect(url_for("reader.index"))
    if "://" not in raw and raw[:1].isalnum():
        # Typed into the address field as "en.wikipedia.org/wiki/Cell": checked as https.
        raw = "https://" + raw
    whitelist = service.whitelist_for(db(), inmate, now())
    verdict = whitelist.check(raw)
    if not verdict.allowed or verdict.url is None:
        _log(inmate, raw, VisitVerdict.REFUSED, verdict.reason.value)
        return _refusal(raw, verdict.reason.value, 403, refused=True)
    settings = get_state().settings
    try:
        fetched = service.fetch_cached(
            db(),
            _fetcher(whitelist),
            verdict.url,
            kinds=PAGE_KINDS,
            now=now(),
            cache_seconds=settings.whitelist_cache_seconds,
        )
    except FetchError as error:
        outcome = VisitVerdict.REFUSED if error.refused else VisitVerdict.FAILED
        rule_id = verdict.rule.id if verdict.rule else None
        _log(inmate, raw, outcome, error.reason, rule_id=rule_id, status=error.status)
        return _refusal(raw, error.reason, _status_for(error), refused=error.refused)
    _log(
        inmate,
        raw,
        VisitVerdict.ALLOWED,
        "allowed",
        rule_id=fetched.rule_id,
        kind=fetched.kind,
        status=fetched.status,
    )
    if fetched.kind == "image":
        return _image_response(fetched.body, fetched.content_type)
    if fetched.kind == "pdf":
        response = make_response(fetched.body)
        response.headers["Content-Type"] = "application/pdf"
        # A PDF can hold script and links: it is a download, never a page of the portal.
        response.headers["Content-Disposition"] = 'attachment; filename="document.pdf"'
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
    text = reader_html.decode(fetched.body, fetched.charset)
    title, body = reader_html.render(
        text,
        base_url=fetched.url,
        link_for=reader_html.through_whitelist(
            whitelist, lambda target: url_for("reader.view", url=target)
        ),
        image_for=reader_html.through_whitelist(
            whitelist, lambda target: url_for("reader.image", url=target)
        ),
        unavailable=_("not available"),
    )
    return render_template(
        "reader/page.html",
        title=title or verdict.url.host,
        body=Markup(body),  # noqa: S704 - cleaned by clean_reader_html just above
        url=fetched.url,
        asked=verdict.url.geturl(),
    )


def _image_response(body: bytes, content_type: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/image")
@access.inmate()
@access.rate_limited("300/minute", methods=("GET",))
def image() -> ResponseReturnValue:
    """A picture from a whitelisted page, passed through the server."""
    inmate = _inmate()
    raw = request.args.get("url", "")
    whitelist = service.whitelist_for(db(), inmate, now())
    verdict = whitelist.check(raw)
    if not verdict.allowed or verdict.url is None:
        _log(inmate, raw, VisitVerdict.REFUSED, verdict.reason.value, kind="image")
        return make_response(_("This picture is not available."), 403)
    try:
        fetched = service.fetch_cached(
            db(),
            _fetcher(whitelist),
            verdict.url,
            kinds=IMAGE_KINDS,
            now=now(),
            cache_seconds=get_state().settings.whitelist_cache_seconds,
        )
    except FetchError as error:
        outcome = VisitVerdict.REFUSED if error.refused else VisitVerdict.FAILED
        _log(inmate, raw, outcome, error.reason, kind="image", status=error.status)
        return make_response(_("This picture is not available."), _status_for(error))
    _log(inmate, raw, VisitVerdict.ALLOWED, "allowed", rule_id=fetched.rule_id, kind="image")
    return _image_response(fetched.body, fetched.content_type)


@bp.post("/ask")
@access.inmate()
@access.rate_limited("10/minute")
def ask() -> ResponseReturnValue:
    """Ask staff to add a site."""
    inmate = _inmate()
    form = AskForm()
    if form.validate():
        try:
            _row, created = service.ask_for_site(
                db(),
                actor=actor(),
                inmate=inmate,
                url=form.url.data or "",
                reason=form.reason.data or "",
                now=now(),
            )
        except service.WhitelistError as exc:
            target = form.reason if exc.field == "reason" else form.url
            target.errors = [exc.message]
            status = exc.status
        else:
            if created:
                flash(_("Your request is sent. Staff will look at it."), "success")
            else:
                flash(_("You have already asked for this address. Staff will look at it."), "info")
            return redirect(url_for("reader.index"), 303)
    else:
        status = 422
    html = render_template("reader/ask.html", form=form)
    return make_response(html, status)
