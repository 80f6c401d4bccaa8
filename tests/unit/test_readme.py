"""The README is a contract: its configuration table lists every variable the code reads."""
from pathlib import Path

import pytest

from callrec.config import ENV_VARS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(ENV_VARS))
def test_every_environment_variable_is_documented_in_the_readme(name):
    assert f"| `{name}` |" in README


def test_readme_gives_the_two_quick_start_commands():
    assert "make run" in README and "make test" in README
