"""Shared fixtures: every test gets its own cache and results directory."""

from __future__ import annotations

import pytest


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A private, empty kit cache (SGKIT_CACHE_DIR) for tests that write to it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SGKIT_CACHE_DIR", str(cache))
    monkeypatch.setenv("SGKIT_RESULTS_DIR", str(tmp_path / "results"))
    return cache
