# tests/python/conftest.py — fixtures: a treadle loop on the backend named by TREADLE_BACKEND.
"""Shared fixtures for treadle's pytest suite."""

import asyncio
import os

import pytest

import treadle

BACKEND = os.environ.get("TREADLE_BACKEND", "reactor")


@pytest.fixture
def backend():
    """The backend under test."""
    return BACKEND


@pytest.fixture
def loop():
    """A fresh treadle loop, closed (and checked closable) after the test."""
    lp = treadle.new_event_loop(BACKEND)
    yield lp
    if lp.is_running():
        lp.stop()
    lp.close()
    asyncio.set_event_loop(None)
