"""Hypothesis profile for the fuzz tests.

The normal suite runs a short, derandomized (so deterministic) pass; a longer
search is ``NERVE_FUZZ_EXAMPLES=2000 python -m pytest tests/fuzz``. The profile
is applied by the fuzz tests themselves (``@FUZZ``), so other hypothesis
tests in the suite keep their own settings.
"""
import os

from hypothesis import HealthCheck, settings

_examples = int(os.environ.get("NERVE_FUZZ_EXAMPLES", "0"))
settings.register_profile(
    "nerve-fuzz",
    max_examples=_examples or 30,
    deadline=None,
    derandomize=not _examples,  # a long run explores new examples each time
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def pytest_configure(config):
    # Hypothesis's failure report imports a module that warns; with
    # filterwarnings=error that warning would hide the falsifying example.
    config.addinivalue_line("filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
