"""The nginx configuration as configuration: rendered per site, accepted by nginx, same headers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kiosk.cli import main
from kiosk.nginxconf import REPO_NGINX, SiteError, load_site, make_site, render
from kiosk.security import headers

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (Debian package nginx; scripts/install-test-deps)"
)
EXAMPLE = REPO_NGINX / "site.example.toml"


def site_for(tmp: Path, **changes: Any) -> Any:
    """The example site, pointed at files that exist under tmp."""
    from kiosk.pki import TerminalCA

    ca = TerminalCA(tmp / "pki")
    if not ca.exists:
        ca.init("Test CA")
    server = ca.issue_server(["localhost", "127.0.0.1"])
    values = {
        "conf_dir": str(tmp / "conf"),
        "inmate_certificate": str(ca.dir / server.cert_path),
        "inmate_certificate_key": str(ca.dir / server.key_path),
        "staff_certificate": str(ca.dir / server.cert_path),
        "staff_certificate_key": str(ca.dir / server.key_path),
        "terminal_ca": str(ca.ca_cert_path),
        "terminal_crl": str(ca.crl_path),
        "media_root": str(tmp / "media"),
        "inmate_listen": "127.0.0.1:18443",
        "staff_listen": "127.0.0.1:18444",
        "standalone": True,
        "standalone_user": "root" if os.geteuid() == 0 else None,
        **changes,
    }
    return load_site(EXAMPLE, **values)


def nginx_test(conf_dir: Path) -> subprocess.CompletedProcess[str]:
    (conf_dir / "tmp").mkdir(exist_ok=True)
    assert NGINX is not None
    return subprocess.run(
        [
            NGINX,
            "-t",
            "-q",
            "-e",
            "stderr",
            "-p",
            str(conf_dir),
            "-c",
            str(conf_dir / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@needs_nginx
def test_nginx_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    site = site_for(tmp_path)
    render(site, Path(site.conf_dir))
    result = nginx_test(Path(site.conf_dir))
    assert result.returncode == 0, result.stderr


def test_the_example_site_renders_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["nginx", "render", "--site", str(EXAMPLE), "--out", str(out)],
        env={"KIOSK_INSTANCE_PATH": str(tmp_path / "instance")},
    )
    assert result.exit_code == 0, result.output
    conf = (out / "kiosk.conf").read_text()
    assert "server_name portal.norrby.example;" in conf
    assert "listen 10.20.0.5:443 ssl;" in conf
    assert "allow 10.20.0.0/16;" in conf
    assert (out / "errors" / "503.html").exists()


def test_every_header_the_apps_set_is_set_again_by_nginx_with_a_comment(tmp_path: Path) -> None:
    site = site_for(tmp_path)
    render(site, Path(site.conf_dir))
    snippet = (Path(site.conf_dir) / "kiosk-headers.conf").read_text().splitlines()
    found = {}
    for i, line in enumerate(snippet):
        match = re.match(r'add_header (\S+) "(.*)" always;', line)
        if match:
            found[match.group(1)] = match.group(2)
            assert snippet[i - 1].startswith("# "), f"{match.group(1)} has no comment saying why"
    assert found["Content-Security-Policy"] == headers.CONTENT_SECURITY_POLICY
    assert found["Referrer-Policy"] == headers.REFERRER_POLICY
    assert found["Permissions-Policy"] == headers.PERMISSIONS_POLICY
    assert found["Strict-Transport-Security"] == headers.STRICT_TRANSPORT_SECURITY
    assert found["X-Content-Type-Options"] == "nosniff"
    assert found["X-Frame-Options"] == "DENY"
    proxy = (Path(site.conf_dir) / "kiosk-proxy.conf").read_text()
    for name in found:
        assert f"proxy_hide_header {name};" in proxy, f"the app's {name} would be sent twice"
    media = (Path(site.conf_dir) / "kiosk-media-headers.conf").read_text()
    assert f'Content-Security-Policy "{headers.MEDIA_CONTENT_SECURITY_POLICY}"' in media


def test_the_inmate_server_requires_a_certificate_and_always_overwrites_its_header(
    tmp_path: Path,
) -> None:
    site = site_for(tmp_path)
    render(site, Path(site.conf_dir))
    conf = (Path(site.conf_dir) / "kiosk.conf").read_text()
    inmate, staff = conf.split("# Inmate portal:")[1].split("# Staff app:")
    assert "ssl_verify_client on;" in inmate
    assert f"ssl_crl                {site.terminal_crl};" in inmate
    for block in re.findall(r"location [^{]+\{[^}]*proxy_pass http://kiosk_portal;", inmate):
        assert "proxy_set_header X-Client-Cert $ssl_client_escaped_cert;" in block
    assert "ssl_verify_client" not in staff
    assert "kiosk_portal" not in staff, "the staff server never reaches the portal"
    assert "kiosk_staff" not in inmate, "the inmate server never reaches the staff app"
    assert "deny all;" in staff


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("inmate_server_name", "portal.example; include /etc/passwd"),
        ("media_root", "/var/lib/kiosk media"),
        ("media_root", "relative/path"),
        ("media_root", '/var/"x'),
        ("staff_networks", ["10.0.0.0/8; allow all"]),
        ("sign_in_rate", "10r/m; limit_req off"),
        ("inmate_listen", "0.0.0.0:443 default_server"),
        ("kiosk_upstreams", []),
        ("staff_networks", []),
        ("unknown_setting", "x"),
    ],
)
def test_a_site_value_can_never_add_a_directive(tmp_path: Path, name: str, value: Any) -> None:
    with pytest.raises(SiteError):
        site_for(tmp_path, **{name: value})


def test_the_staff_server_needs_its_own_listener() -> None:
    with pytest.raises(SiteError, match="own listener"):
        make_site(
            {
                "inmate_server_name": "a",
                "inmate_listen": "127.0.0.1:443",
                "inmate_certificate": "/a",
                "inmate_certificate_key": "/a",
                "terminal_ca": "/a",
                "terminal_crl": "/a",
                "staff_server_name": "b",
                "staff_listen": "127.0.0.1:443",
                "staff_certificate": "/a",
                "staff_certificate_key": "/a",
                "staff_networks": ["10.0.0.0/8"],
                "media_root": "/a",
            }
        )
