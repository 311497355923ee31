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
def graph():
    from graphforget.testing import small_graph

    return small_graph()


def has_dataset(sub: str) -> bool:
    root = os.environ.get("GRAPHFORGET_DATA")
    return bool(root) and (Path(root) / sub).exists()


needs_cora = pytest.mark.skipif(not has_dataset("Planetoid/Cora"), reason="Cora raw files not available")
