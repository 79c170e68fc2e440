"""Every route says who may use it; a route that says nothing is refused.

``@access.public``       anyone (static files, the sign-in pages)
``@access.terminal``     an enrolled terminal, nobody signed in yet (inmate portal)
``@access.inmate()``     a signed-in inmate on an enrolled terminal
``@access.staff(*perm)`` a signed-in staff member holding every permission named
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask

from kiosk.security.policy import Perm

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "_kiosk_access"


def is_static(endpoint: str | None) -> bool:
    """Static views (app and blueprints) cannot carry an attribute: they are public by name."""
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


@dataclass(frozen=True)
class Rule:
    """Who may use one route."""

    audience: str
    perms: frozenset[Perm] = field(default_factory=frozenset)


def _mark(rule: Rule) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        setattr(view, _ATTR, rule)
        return view

    return decorate


def public(view: F) -> F:
    """Anyone may use this route."""
    return _mark(Rule("public"))(view)


def terminal(view: F) -> F:
    """Only an enrolled terminal may use this route."""
    return _mark(Rule("terminal"))(view)


def inmate(*perms: Perm) -> Callable[[F], F]:
    """Only a signed-in inmate (holding these permissions) may use this route."""
    return _mark(Rule("inmate", frozenset(perms or (Perm.PORTAL_USE,))))


def staff(*perms: Perm) -> Callable[[F], F]:
    """Only a signed-in staff member holding every permission named may use this route."""
    return _mark(Rule("staff", frozenset(perms)))


def rule_for(app: Flask, endpoint: str | None) -> Rule | None:
    """The rule an endpoint declared, or None (which means: refuse)."""
    if endpoint is None:
        return None
    if is_static(endpoint):
        return Rule("public")
    view = app.view_functions.get(endpoint)
    rule = getattr(view, _ATTR, None)
    return rule if isinstance(rule, Rule) else None


RATE_ATTR = "_kiosk_rate_limit"


def rate_limited(limit: str, methods: tuple[str, ...] = ("POST",)) -> Callable[[F], F]:
    """Limit how often one client may use this route (Flask-Limiter syntax, e.g. "10/minute")."""

    def decorate(view: F) -> F:
        setattr(view, RATE_ATTR, (limit, methods))
        return view

    return decorate


UPLOAD_ATTR = "_kiosk_upload_limit"


def upload_limit(
    max_bytes: int | None = None, *, form_parts: int | None = None
) -> Callable[[F], F]:
    """Let this route's requests be as large as ``max_bytes`` (file uploads), or have as
    many as ``form_parts`` fields (long quizzes).

    The limits are raised before anything reads the body, CSRF checking included: raising
    ``request.max_content_length`` inside the view is too late, the form is parsed by then.
    """

    def decorate(view: F) -> F:
        setattr(view, UPLOAD_ATTR, (max_bytes, form_parts))
        return view

    return decorate
