import importlib.util
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


@pytest.fixture(scope="session")
def ray_cluster():
    """One simulated 3-node Ray cluster for the whole session (``ray.cluster_utils.Cluster``):
    a head node with no CPUs, where the driver (this process) lives, and two worker nodes
    with one CPU each (``num_cpus=2`` in all), each with its own raylet and object store.
    Every task therefore runs on another node than the driver and reads shared data from
    its own node's object store. No dashboard, no usage stats, small object stores.

    Ray is in the ``test`` extra; without it these tests skip, unless
    ``GRAPHFORGET_REQUIRE_RAY=1`` (set by ``.ci/run``), where they fail."""
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("GRAPHFORGET_REQUIRE_RAY") == "1":
            pytest.fail("ray is not installed: pip install -e '.[test]'")
        pytest.skip("ray is not installed (pip install -e '.[test]')")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # worker processes inherit the raylets' environment: let them import this checkout
    paths = [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    store = 150 * 1024 * 1024
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": store})
    try:
        workers = [cluster.add_node(num_cpus=1, object_store_memory=store) for _ in range(2)]
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
        cluster.worker_node_ids = [n.node_id for n in workers]
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
