import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "datasets").resolve()


# Integration tests read the shared raw datasets; point the library at them
# unless the caller chose another root.
if "GRAPHFORGET_DATA" not in os.environ and SHARED.is_dir():
    os.environ["GRAPHFORGET_DATA"] = str(SHARED)


@pytest.fixture
def one_thread():
    """One torch thread for the test, restored afterwards: the suites that use it run many
    small tensor ops, where a second OpenMP thread only adds synchronisation cost on a
    loaded 2-core machine (10x slower in places)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def graph():
    from graphforget.testing import small_graph

    return small_graph()


def has_dataset(sub: str) -> bool:
    root = os.environ.get("GRAPHFORGET_DATA")
    return bool(root) and (Path(root) / sub).exists()


needs_cora = pytest.mark.skipif(not has_dataset("Planetoid/Cora"), reason="Cora raw files not available")
