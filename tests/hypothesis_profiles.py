"""Hypothesis settings profiles, registered by tests/conftest.py.

``quick`` (the default) keeps a local run of the unit tier within seconds; ``ci`` is the
thorough run that ``make test`` and CI use, with the full example counts (ten thousand
generated bad inputs across tests/unit/test_bad_input_*.py). Choose one with
``pytest --hypothesis-profile=ci`` or ``HYPOTHESIS_PROFILE=ci``; the option wins.

Both are derandomized: the same code draws the same examples on every run and every
machine, a failure found once is found again, and no example database is kept.
Deadlines and the too-slow health check are off, as both depend on how loaded the
machine is rather than on the code under test.

A test that needs more examples than the default says how many it runs under ``ci``
through :func:`examples`; every profile scales that count by its own ``max_examples``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

QUICK, CI = "quick", "ci"
CI_EXAMPLES = 100  # Hypothesis's own default
QUICK_EXAMPLES = 5  # a twentieth of every count
ENVIRONMENT = "HYPOTHESIS_PROFILE"

_COMMON = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}


def register() -> None:
    settings.register_profile(QUICK, max_examples=QUICK_EXAMPLES, **_COMMON)
    settings.register_profile(CI, max_examples=CI_EXAMPLES, print_blob=True, **_COMMON)


def from_environment() -> str:
    """The profile HYPOTHESIS_PROFILE names, else quick; ValueError naming the choices."""
    name = os.environ.get(ENVIRONMENT) or QUICK
    if name not in (QUICK, CI):
        raise ValueError(f"{ENVIRONMENT}={name!r}: expected {QUICK} or {CI}")
    return name


def examples(under_ci: int) -> int:
    """A test's example count, given as what it runs under the ci profile and scaled by
    the loaded profile (the quick profile runs a twentieth of it, at least one).

    Read when the test module is imported, after the profile is loaded."""
    return max(1, under_ci * settings.default.max_examples // CI_EXAMPLES)
