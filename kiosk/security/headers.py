"""Security headers, set by the apps themselves (nginx sets them again in production)."""

from __future__ import annotations

from flask import Response

# Nothing may load from anywhere unless listed; nothing from outside this server at all.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

# An uploaded file opened on its own runs in a sandbox: no script, no forms, no navigation.
MEDIA_CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"

REFERRER_POLICY = "same-origin"

# Two years, subdomains too: after one visit a browser never tries plain HTTP again.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "camera",
        "microphone",
        "geolocation",
        "payment",
        "usb",
        "serial",
        "bluetooth",
        "display-capture",
        "clipboard-read",
    )
)


def apply_security_headers(response: Response, *, https: bool, cacheable: bool) -> Response:
    """Add the headers every response carries."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    # Browsers must not guess a type other than the one we send (uploaded files).
    headers["X-Content-Type-Options"] = "nosniff"
    # No page address, with its ids, leaves the site in a Referer header. Same-origin
    # requests keep it: behind HTTPS Flask-WTF's CSRF check requires a same-site Referer.
    headers["Referrer-Policy"] = REFERRER_POLICY
    # Older browsers that ignore frame-ancestors: no framing (clickjacking).
    headers["X-Frame-Options"] = "DENY"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    # Another window cannot keep a handle on ours, nor embed our resources.
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if https:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    if not cacheable:  # nothing per-user is ever cacheable
        # Signed-in pages must not stay in a shared terminal's cache for the next person.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response
