"""`kiosk demo` sets up the whitelist: sites in force, a waiting proposal, a request, a library."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from conftest import fresh
from sqlalchemy import select

from kiosk.cli import main
from kiosk.models import OfflineLibrary, RuleStatus, SiteRequest, WhitelistRule
from kiosk.whitelist.library import Library


def test_the_demo_loads_whitelist_rules_a_request_and_an_offline_library(
    settings: Any, db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
        "KIOSK_ARGON2_TIME_COST": "1",
        "KIOSK_ARGON2_MEMORY_KIB": "64",
        "KIOSK_ARGON2_PARALLELISM": "1",
    }
    for _ in range(2):  # a second run adds nothing
        result = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    # libzim's writer prints to file descriptor 1 unless the demo silences it.
    assert "ZIM file is ready" not in capfd.readouterr().out
    rules = list(fresh(db).scalars(select(WhitelistRule)))
    statuses = sorted(r.status.value for r in rules)
    assert statuses.count(RuleStatus.APPROVED.value) == 5
    assert statuses.count(RuleStatus.PROPOSED.value) == 1
    assert all(r.proposed_by_id != r.approved_by_id for r in rules)
    assert len(list(db.scalars(select(SiteRequest)))) == 1
    (library,) = db.scalars(select(OfflineLibrary))
    opened = Library(settings.zim_folder, library.file_name)
    assert [hit.path for hit in opened.search("klorofyll")] == ["Fotosyntes"]
