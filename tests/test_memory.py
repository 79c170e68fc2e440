"""What a portal worker holds: heavy libraries load where they are used, not at start.

A gunicorn worker of the portal imports ``kiosk:create_app()``. cryptography (about
9 MB resident), libzim (about 5 MB) and bleach with html5lib (1-2 MB) serve only some
requests (a sensitive request's text, a client certificate behind nginx, an offline
library, a fetched page), so building the portal must not import them; the first
request that needs one imports it (the tests of those features prove they still work).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.security.crypto import Vault

LAZY = ("cryptography", "libzim", "bleach", "zxcvbn", "segno", "PIL")


def test_building_the_portal_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from kiosk import create_app\n"
        f"app = create_app({{'instance_path': {str(tmp_path)!r}, "
        f"'database_url': 'sqlite:///{tmp_path}/k.sqlite3'}})\n"
        "client = app.test_client()\n"
        "client.get('/')\n"
        f"lazy = {LAZY!r}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(lazy))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_vault_checks_its_keys_when_made_and_encrypts_on_first_use() -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Vault(old).encrypt("seed")
    assert Vault(f"{new}, {old}").decrypt(sealed) == "seed"
    assert Fernet(old.encode()).decrypt(sealed.encode()) == b"seed"
    with pytest.raises(ValueError, match="cannot decrypt"):
        Vault(new).decrypt(sealed)
    for bad in ("", " , ", "not-a-key", Fernet.generate_key().decode()[:-4], "é" * 44):
        with pytest.raises(ValueError):
            Vault(bad)


def test_a_generated_data_key_is_a_fernet_key() -> None:
    from cryptography.fernet import Fernet

    from kiosk.config import Secrets

    key = Secrets.generate().data_key
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert Vault(key).decrypt(Vault(key).encrypt("x")) == "x"


def test_sqlite_connections_keep_a_small_page_cache(tmp_path: Path) -> None:
    from sqlalchemy import text

    from kiosk.db import create_db_engine

    engine = create_db_engine(f"sqlite:///{tmp_path}/c.sqlite3")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -1024
    engine.dispose()


def test_the_app_servers_run_with_two_malloc_arenas() -> None:
    root = Path(__file__).resolve().parent.parent
    for unit in ("kiosk-portal@.service", "kiosk-admin@.service"):
        assert "Environment=MALLOC_ARENA_MAX=2" in (root / "deploy" / unit).read_text()
