"""Integration tests run with all five packages installed, torch included."""

import pytest

torch = pytest.importorskip("torch", reason="integration tests need torch (nox -t integration installs it)")
