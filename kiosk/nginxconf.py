"""Render the reviewed nginx configuration for one site (`kiosk nginx render`).

The templates in ``nginx/templates/`` are the reviewed front end; a site fills
in its names, addresses, networks and certificate paths in a small TOML file
(``nginx/site.example.toml``) and renders them, so nobody edits the security
configuration by hand. Every value is checked before it reaches a template: a
value can never add a directive (no spaces, quotes, semicolons or braces).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jinja2

from kiosk.security import headers

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_NGINX = PACKAGE_DIR.parent / "nginx"
TEMPLATES = REPO_NGINX / "templates"

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_PATH = re.compile(r"/[A-Za-z0-9._/@+-]*")
_RATE = re.compile(r"[1-9][0-9]{0,4}r/[sm]")
_SIZE = re.compile(r"[1-9][0-9]{0,5}[km]?")


class SiteError(Exception):
    """The site file has a value that cannot be used; the message names it."""


def _host(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _HOST.fullmatch(value):
        raise SiteError(f"{name} must be a host name or address, not {value!r}")
    return value


def _address(name: str, value: Any) -> str:
    """``host:port`` or ``[v6]:port`` for listen and upstream lines."""
    if not isinstance(value, str):
        raise SiteError(f"{name} must be host:port")
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})", value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise SiteError(f"{name} must be host:port, not {value!r}")
    return value


def _path(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _PATH.fullmatch(value) or "/../" in f"{value}/":
        raise SiteError(f"{name} must be an absolute path without spaces or quotes, not {value!r}")
    return value


def _network(name: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError as exc:
        raise SiteError(f"{name}: {value!r} is not an address or network") from exc


def _pattern(name: str, value: Any, pattern: re.Pattern[str], hint: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SiteError(f"{name} must be {hint}, not {value!r}")
    return value


@dataclass(frozen=True)
class Site:
    """Everything the templates need to know about one site."""

    inmate_server_name: str
    inmate_listen: str
    inmate_certificate: str
    inmate_certificate_key: str
    terminal_ca: str
    terminal_crl: str
    staff_server_name: str
    staff_listen: str
    staff_certificate: str
    staff_certificate_key: str
    staff_networks: tuple[str, ...]
    media_root: str
    kiosk_upstreams: tuple[str, ...] = ("127.0.0.1:8000",)
    admin_upstreams: tuple[str, ...] = ("127.0.0.1:8001",)
    # Integrations (offender management, payroll) reach only /api/ of the staff server.
    api_networks: tuple[str, ...] = ()
    kiosk_static: str = str(PACKAGE_DIR / "static")
    admin_static: str = str(PACKAGE_DIR.parent / "admin" / "static")
    shared_assets: str = str(PACKAGE_DIR / "web" / "static")
    sign_in_rate: str = "10r/m"
    api_rate: str = "10r/s"
    body_size: str = "1m"
    upload_body_size: str = "1100m"
    # Where the rendered files and error pages will live on the server (for include lines).
    conf_dir: str = "/etc/nginx/kiosk"
    # A whole nginx.conf (tests, `make stack`) instead of a file for /etc/nginx/conf.d.
    standalone: bool = False
    standalone_user: str | None = None


def load_site(path: Path, **overrides: Any) -> Site:
    """Read and check a site file; keyword overrides win."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SiteError(f"cannot read {path}: {exc}") from exc
    flat: dict[str, Any] = {}
    for section in ("inmate", "staff"):
        for key, value in dict(raw.pop(section, {})).items():
            plain = key in ("terminal_ca", "terminal_crl", "api_networks")
            flat[key if plain else f"{section}_{key}"] = value
    for section in ("paths", "limits", "upstreams", "output"):
        flat.update(dict(raw.pop(section, {})))
    flat.update(raw)
    flat.update(overrides)
    return make_site(flat)


def make_site(values: dict[str, Any]) -> Site:
    """Check every value and build the site."""
    known = {f.name for f in fields(Site)}
    unknown = set(values) - known
    if unknown:
        raise SiteError(f"unknown settings: {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name.endswith("server_name"):
            clean[name] = _host(name, value)
        elif name.endswith("_listen"):
            clean[name] = _address(name, value)
        elif name.endswith("upstreams"):
            if not value:
                raise SiteError(f"{name} needs at least one host:port")
            clean[name] = tuple(_address(name, v) for v in value)
        elif name.endswith("networks"):
            clean[name] = tuple(_network(name, v) for v in value)
        elif name.endswith("_rate"):
            clean[name] = _pattern(name, value, _RATE, "like 10r/m")
        elif name.endswith("body_size"):
            clean[name] = _pattern(name, value, _SIZE, "like 1m")
        elif name == "standalone":
            clean[name] = bool(value)
        elif name == "standalone_user":
            clean[name] = None if value is None else _pattern(name, value, _HOST, "a user name")
        else:
            clean[name] = _path(name, value)
    try:
        site = Site(**clean)
    except TypeError as exc:
        raise SiteError(f"missing settings: {exc}") from exc
    if not site.staff_networks:
        raise SiteError("staff_networks needs at least one network: the staff app is never open")
    if site.inmate_listen == site.staff_listen:
        raise SiteError("the staff server needs its own listener (staff_listen)")
    return site


def _environment(templates: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - nginx configuration, not HTML; every value is checked
    )


def render(site: Site, out: Path, *, templates: Path = TEMPLATES) -> list[Path]:
    """Write the configuration and the error pages into ``out``; returns the files."""
    if not (templates / "kiosk.conf.j2").exists():
        raise SiteError(f"no nginx templates in {templates}: run from a checkout of the project")
    env = _environment(templates)
    context = {
        "site": site,
        "conf_dir": site.conf_dir,
        "csp": headers.CONTENT_SECURITY_POLICY,
        "media_csp": headers.MEDIA_CONTENT_SECURITY_POLICY,
        "referrer_policy": headers.REFERRER_POLICY,
        "permissions_policy": headers.PERMISSIONS_POLICY,
        "hsts": headers.STRICT_TRANSPORT_SECURITY,
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    names = ["kiosk.conf", "kiosk-headers.conf", "kiosk-media-headers.conf", "kiosk-proxy.conf"]
    if site.standalone:
        names.append("nginx.conf")
    for name in names:
        text = env.get_template(f"{name}.j2").render(**context)
        target = out / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    errors = out / "errors"
    errors.mkdir(exist_ok=True)
    for page in sorted((templates.parent / "errors").glob("*.html")):
        shutil.copyfile(page, errors / page.name)
        written.append(errors / page.name)
    return written
