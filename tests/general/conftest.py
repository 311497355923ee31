import pytest

from graphforget.data.tabular import load_breast_cancer_data, load_classification_data, load_digits_data


@pytest.fixture(scope="session")
def binary_small():
    """A small binary problem with unit-norm rows (bounded gradients)."""
    return load_classification_data(n_samples=240, n_features=8, n_informative=5, seed=0,
                                    normalize=True)


@pytest.fixture(scope="session")
def multi_small():
    return load_classification_data(n_samples=240, n_features=8, n_informative=5, n_classes=3,
                                    seed=1)


@pytest.fixture(scope="session")
def digits():
    return load_digits_data()


@pytest.fixture(scope="session")
def cancer():
    return load_breast_cancer_data()


@pytest.fixture(scope="session", autouse=True)
def _single_blas_thread():
    """Multi-threaded BLAS on a shared 2-core machine is slower than one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
