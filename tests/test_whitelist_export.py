"""`kiosk whitelist export`: the rules in force as nginx or squid configuration."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import START, World

from kiosk.cli import main
from kiosk.models import Staff
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor
from kiosk.whitelist import Rule, Whitelist
from kiosk.whitelist.export import prefix_regex, render

ACTOR = Actor.system("test")


@pytest.mark.parametrize(
    ("prefix", "url"),
    [
        ("https://www.khanacademy.org/math/", "https://www.khanacademy.org/math/algebra"),
        ("https://www.khanacademy.org/math/", "https://www.khanacademy.org:443/math/x"),
        ("https://www.khanacademy.org/math", "https://www.khanacademy.org/math"),
        ("https://www.khanacademy.org/math", "https://www.khanacademy.org/math?x=1"),
        ("https://en.wikipedia.org/", "https://en.wikipedia.org/wiki/C%2B%2B"),
        ("http://mirror.kiosk.internal:8080/", "http://mirror.kiosk.internal:8080/a"),
    ],
)
def test_the_proxy_regex_matches_what_the_whitelist_allows(prefix: str, url: str) -> None:
    rule = Rule(prefix, mirror=True)
    assert Whitelist([rule]).allows(url)
    assert re.search(prefix_regex(rule), url)


@pytest.mark.parametrize(
    ("prefix", "url"),
    [
        ("https://www.khanacademy.org/math/", "https://www.khanacademy.org/mathematics"),
        ("https://www.khanacademy.org/math", "https://www.khanacademy.org/math-evil/"),
        ("https://en.wikipedia.org/", "https://en.wikipedia.org.evil.example/"),
        ("https://en.wikipedia.org/", "https://enXwikipedia.org/"),
        ("https://en.wikipedia.org/", "http://en.wikipedia.org/"),
        ("https://en.wikipedia.org/", "https://en.wikipedia.org:8443/"),
        ("https://en.wikipedia.org/", "https://evil.example/https://en.wikipedia.org/"),
    ],
)
def test_the_proxy_regex_refuses_what_the_whitelist_refuses(prefix: str, url: str) -> None:
    rule = Rule(prefix)
    assert not Whitelist([rule]).allows(url)
    assert not re.search(prefix_regex(rule), url)


def test_nginx_output_is_a_map_that_defaults_to_deny() -> None:
    text = render([Rule("https://en.wikipedia.org/")], "nginx", generated="now")
    assert "map $scheme://$host$request_uri $kiosk_whitelist_allowed {" in text
    assert "    default 0;" in text
    assert '    "~^https://en\\.wikipedia\\.org(:443)?/" 1;' in text


def test_squid_output_allows_the_hosts_and_prefixes_and_denies_the_rest() -> None:
    text = render([Rule("https://www.khanacademy.org/math/")], "squid", generated="now")
    assert "acl kiosk_whitelist_hosts dstdomain www.khanacademy.org" in text
    assert (
        "acl kiosk_whitelist_urls url_regex ^https://www\\.khanacademy\\.org(:443)?/math/" in text
    )
    assert text.rstrip().endswith("http_access deny all")


def test_a_prefix_with_quote_characters_is_skipped_not_written(tmp_path: Any) -> None:
    text = render([Rule('https://x.example.org/a"b/')], "nginx", generated="now")
    assert "0 rules in force" in text
    assert '"~^https://x' not in text


def test_the_export_command_writes_only_rules_in_force(
    settings: Any, world: World, db: Any
) -> None:
    teacher = db.get(Staff, world.staff["teacher"].id)
    approved = service.propose_rule(
        db,
        actor=ACTOR,
        staff=teacher,
        prefix="https://en.wikipedia.org/",
        title="W",
        facility_id=world.facility,
        now=START,
    )
    service.approve_rule(
        db,
        actor=ACTOR,
        staff=db.get(Staff, world.staff["security"].id),
        rule_id=approved.id,
        now=START,
    )
    service.propose_rule(
        db,
        actor=ACTOR,
        staff=teacher,
        prefix="https://proposed.example.org/",
        title="P",
        facility_id=world.facility,
        now=START,
    )
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
    }
    result = CliRunner().invoke(
        main, ["whitelist", "export", "--format", "squid"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "dstdomain en.wikipedia.org" in result.output
    assert "proposed.example.org" not in result.output
    other = CliRunner().invoke(
        main, ["whitelist", "export", "--format", "nginx", "--facility", "OTH"], env=env
    )
    assert other.exit_code == 0
    assert "0 rules in force" in other.output
    bad = CliRunner().invoke(main, ["whitelist", "export", "--format", "apache"], env=env)
    assert bad.exit_code != 0
