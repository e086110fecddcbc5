"""One BLAS / torch thread for the tests that import this fixture (autouse in their module).

Ridge fits and small forward passes on a 2-core machine shared with other jobs run many
times faster on one thread than on two competing ones.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_thread():
    # Two cores shared with other jobs: one BLAS / torch thread is many times faster than two here.
    from threadpoolctl import threadpool_limits

    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
