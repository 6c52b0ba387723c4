"""Fixtures shared by the test modules (helpers to import live in ``builders.py``)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: on a shared 2-core machine two threads run small loops 10x
    slower (OpenMP oversubscription). Modules opt in with ``pytest.mark.usefixtures``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
