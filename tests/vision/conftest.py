import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Two shared cores: small models train ~30x faster on one thread than on two
    # threads fighting the other jobs' load.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
