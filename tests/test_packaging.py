"""An installed (not editable) copy of the packages carries every file they need."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_the_packages_hold_besides_code_is_named_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    tracked = subprocess.run(
        ["git", "ls-files", *package_data],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    covered = {
        path.relative_to(ROOT).as_posix()
        for package, patterns in package_data.items()
        for pattern in patterns
        for path in (ROOT / package).glob(pattern)
    }
    missing = [name for name in tracked if not name.endswith(".py") and name not in covered]
    assert missing == [], "add these to [tool.setuptools.package-data]"
