"""What every tier shares: the Hypothesis profiles (tests/hypothesis_profiles.py) and
the benchmark scripts as importable modules."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests import hypothesis_profiles

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

hypothesis_profiles.register()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Load the profile HYPOTHESIS_PROFILE names before Hypothesis's own plugin loads the
    one ``--hypothesis-profile`` names, so that the option wins."""
    try:
        settings.load_profile(hypothesis_profiles.from_environment())
    except ValueError as bad:
        raise pytest.UsageError(str(bad)) from None


@pytest.fixture
def benchmarks_importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """benchmarks/ on sys.path for one test; its scripts are forgotten afterwards, so
    that each test imports them afresh (a test may change their module constants)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield BENCHMARKS
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").parent == BENCHMARKS:
            del sys.modules[name]
