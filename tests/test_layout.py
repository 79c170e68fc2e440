"""The shape the design card asks for: two apps, one domain, no staff route in the portal."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound

from kiosk.web.access import rule_for

ROOT = Path(__file__).resolve().parent.parent


def test_the_top_level_layout_is_as_designed() -> None:
    for place in (
        "pyproject.toml",
        "kiosk",
        "kiosk/routes",
        "kiosk/static",
        "kiosk/templates",
        "admin",
        "tests",
        "nginx",
    ):
        assert (ROOT / place).exists(), place
    assert (ROOT / "kiosk" / "__init__.py").is_file()
    assert (ROOT / "admin" / "__init__.py").is_file()


def test_no_module_of_the_kiosk_package_imports_admin() -> None:
    offenders = []
    for path in (ROOT / "kiosk").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n == "admin" or n.startswith("admin.")]
    assert offenders == []


def test_building_the_portal_loads_nothing_from_admin(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from kiosk import create_app\n"
        f"app = create_app({{'instance_path': {str(tmp_path)!r}, "
        f"'database_url': 'sqlite:///{tmp_path}/k.sqlite3'}})\n"
        "import kiosk.cli, kiosk.services.demo\n"
        "loaded = [m for m in sys.modules if m == 'admin' or m.startswith('admin.')]\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_portal_has_no_staff_route(kiosk_app: Flask, admin_app: Flask) -> None:
    for rule in kiosk_app.url_map.iter_rules():
        view = kiosk_app.view_functions[rule.endpoint]
        module = getattr(view, "__module__", "")
        assert not module.startswith("admin"), rule
        declared = rule_for(kiosk_app, rule.endpoint)
        assert declared is not None, rule
        assert declared.audience != "staff", rule
    staff_pages = [
        r
        for r in admin_app.url_map.iter_rules()
        if rule_for(admin_app, r.endpoint).audience == "staff"
    ]
    assert staff_pages, "the staff app has staff pages"
    portal = kiosk_app.url_map.bind("localhost")
    for rule in staff_pages:
        path = rule.rule.replace("<int:", "<").split("<")[0] + ("1" if "<" in rule.rule else "")
        try:
            endpoint, _ = portal.match(path, method="GET")
        except (NotFound, MethodNotAllowed):
            continue  # no such page in the portal
        module = kiosk_app.view_functions[endpoint].__module__
        assert module.startswith("kiosk."), (rule.rule, endpoint, module)


def test_the_apps_have_separate_secrets_and_cookie_names(
    kiosk_app: Flask, admin_app: Flask
) -> None:
    assert kiosk_app.secret_key
    assert admin_app.secret_key
    assert kiosk_app.secret_key != admin_app.secret_key
    assert kiosk_app.config["SESSION_COOKIE_NAME"] != admin_app.config["SESSION_COOKIE_NAME"]
    assert kiosk_app.template_folder != admin_app.template_folder


def test_the_kiosk_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "kiosk"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("db", "demo", "staff", "inmate", "terminal", "audit", "serve"):
        assert command in result.stdout
