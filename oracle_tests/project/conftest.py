"""Fixtures shared by the project's own tests."""

import pytest

from oracle_tests import tape


@pytest.fixture
def recording():
    """The diagnosis's tape, recording every call to an adapter during the test."""
    tape.TAPE.reset()
    tape.TAPE.recording = True
    yield tape.TAPE
    tape.TAPE.recording = False
    tape.TAPE.reset()
