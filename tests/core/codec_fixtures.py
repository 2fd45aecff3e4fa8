"""Fixtures shared by the codec test modules (imported by them; not a conftest, so nobody else's tests change)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Decode on one thread, and put the previous count back afterwards.

    The codec's kernels run hundreds of short parallel regions per window. On a machine whose cores are
    shared with other processes, two threads wait on each other at every region end: measured 5x slower than
    one thread here. Results change only within fp32 noise (the reference README: 1-thread goldens differ
    by at most 5e-8), far inside the tolerances.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
