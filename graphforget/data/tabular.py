r"""Non-graph data: tabular and image sets as edge-less PyG ``Data``.

Every loader returns ``Data(x, y, train_mask, val_mask, test_mask,
edge_index=LongTensor[2, 0], num_classes)`` with ``x`` float32, so that a
:class:`~graphforget.requests.SampleRequest` forgets rows and every unlearner that
reads ``data.x[data.train_mask]`` works unchanged. Datasets register with
``task="tabular"``:

========================  ==============================================================
``adult``                 UCI Adult (``$GRAPHFORGET_DATA/Adult``): one-hot categoricals,
                          standardised numerics, label ``income > 50K``; ``public`` split
                          is ``adult.data`` / ``adult.test``
``digits``                scikit-learn's bundled 8x8 digits (1,797 x 64, 10 classes)
``breast-cancer``         scikit-learn's bundled Wisconsin breast cancer (569 x 30, binary)
``classification``        :func:`sklearn.datasets.make_classification` (``n_samples=``, ...)
``mnist``                 MNIST from the IDX files in ``$GRAPHFORGET_DATA/MNIST/raw``
``mnist-3v8``             MNIST restricted to digits 3 and 8 (label 1 = "8")
========================  ==============================================================

Every loader takes ``normalize=True`` to scale each row to unit L2 norm, which the
certified linear methods need (their bounds assume :math:`\|x\| \le 1`). By name (CLI,
table configs) the same options follow a colon: ``mnist-3v8:normalize``,
``adult:normalize,max_train=10000``; an unknown option is an error. The pieces
(:func:`read_idx`, :func:`load_mnist_arrays`, :func:`tabular_data`) are public so that
vision code can reuse them.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from graphforget.data._datasets import _parse_options, apply_split, register_dataset
from graphforget.data._root import data_root
from graphforget.errors import GraphForgetError

__all__ = [
    "tabular_data",
    "read_idx",
    "load_mnist_arrays",
    "load_adult_arrays",
    "load_digits_data",
    "load_breast_cancer_data",
    "load_classification_data",
    "load_mnist_data",
    "load_adult_data",
]

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
                 "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
                 "hours-per-week", "native-country", "income"]
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]


def tabular_data(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, split: str = "0.8/0.2",
                 seed: int = 0, num_classes: int | None = None, normalize: bool = False,
                 train_rows: int | None = None) -> Data:
    """Wraps a feature matrix and labels as an edge-less ``Data``.

    Args:
        x: ``[n, d]`` features.
        y: ``[n]`` integer labels in ``0..C-1``.
        split: ratios (``"0.8/0.2"`` or ``"0.6/0.2/0.2"``) or ``"public"`` (then
            ``train_rows`` gives the number of leading training rows; the rest is test).
        normalize: scale every row to unit L2 norm (zero rows stay zero).
    """
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32).contiguous()
    yt = torch.as_tensor(np.asarray(y)).to(torch.long).contiguous()
    if xt.dim() != 2 or yt.dim() != 1 or xt.size(0) != yt.size(0):
        raise GraphForgetError(f"tabular data needs x [n, d] and y [n], got {tuple(xt.shape)} and {tuple(yt.shape)}")
    if normalize:
        norms = xt.norm(dim=1, keepdim=True)
        xt = xt / norms.clamp_min(1e-12)
    n = xt.size(0)
    data = Data(x=xt, y=yt, edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=n)
    if split == "public":
        if train_rows is None:
            raise GraphForgetError("this dataset has no public split; use ratios such as '0.8/0.2'")
        data.train_mask = torch.zeros(n, dtype=torch.bool)
        data.train_mask[:train_rows] = True
        data.val_mask = torch.zeros(n, dtype=torch.bool)
        data.test_mask = ~data.train_mask
    else:
        data = apply_split(data, split, seed)
    data.num_classes = int(num_classes if num_classes is not None else int(yt.max()) + 1)
    return data


# ---------------------------------------------------------------------------
# scikit-learn bundled sets
# ---------------------------------------------------------------------------
def _standardise(x: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    ref = x if ref is None else ref
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    return (x - mean) / np.where(std > 0, std, 1.0)


def load_digits_data(root: Any = None, split: str = "0.8/0.2", seed: int = 0,
                     normalize: bool = False, **_: Any) -> Data:
    """scikit-learn's 8x8 digits (pixels scaled to [0, 1])."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return tabular_data(x / 16.0, y, split, seed, 10, normalize)


def load_breast_cancer_data(root: Any = None, split: str = "0.8/0.2", seed: int = 0,
                            normalize: bool = False, **_: Any) -> Data:
    """scikit-learn's Wisconsin breast cancer set (standardised features)."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return tabular_data(_standardise(x), y, split, seed, 2, normalize)


def load_classification_data(root: Any = None, split: str = "0.8/0.2", seed: int = 0,
                             normalize: bool = False, spec: str = "", n_samples: int = 2000,
                             n_features: int = 20, n_informative: int = 10, n_classes: int = 2,
                             **_: Any) -> Data:
    """:func:`sklearn.datasets.make_classification`, seeded; ``classification:n_samples=
    20000,n_features=50`` on the CLI."""
    from sklearn.datasets import make_classification

    params = {"n_samples": n_samples, "n_features": n_features,
              "n_informative": n_informative, "n_classes": n_classes}
    options = _parse_options(spec, tuple(params))
    normalize = options.pop("normalize", normalize)
    params.update(options)
    params["n_informative"] = min(params["n_informative"], params["n_features"])
    x, y = make_classification(**params, n_redundant=0, random_state=seed)
    return tabular_data(x, y, split, seed, params["n_classes"], normalize)


# ---------------------------------------------------------------------------
# MNIST (IDX)
# ---------------------------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (``.gz`` or raw), as used by MNIST, into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise GraphForgetError(f"{path} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise GraphForgetError(f"{path}: unknown IDX element type 0x{code:02x}")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(shape)) if shape else 1
    body = raw[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise GraphForgetError(f"{path}: expected {count * dtype.itemsize} bytes of data, got {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _mnist_file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise GraphForgetError(f"MNIST file {stem}(.gz) not found in {folder}")


def load_mnist_arrays(root: str | os.PathLike | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train [60000, 784] uint8, y_train, x_test [10000, 784], y_test)`` from
    ``<root>/MNIST/raw``."""
    folder = data_root(root) / "MNIST" / "raw"
    out = []
    for part in ("train", "t10k"):
        images = read_idx(_mnist_file(folder, f"{part}-images-idx3-ubyte"))
        labels = read_idx(_mnist_file(folder, f"{part}-labels-idx1-ubyte"))
        out += [images.reshape(images.shape[0], -1), labels.astype(np.int64)]
    return out[0], out[1], out[2], out[3]


def load_mnist_data(root: Any = None, split: str = "public", seed: int = 0, normalize: bool = False,
                    classes: tuple[int, ...] | None = None, max_train: int | None = None,
                    **_: Any) -> Data:
    """MNIST as ``Data`` (pixels in [0, 1]). ``classes=(3, 8)`` keeps two digits and
    relabels them ``0, 1``; ``max_train`` keeps the first training rows (scale-down)."""
    xtr, ytr, xte, yte = load_mnist_arrays(root)
    if classes is not None:
        classes = tuple(int(c) for c in classes)
        keep_tr, keep_te = np.isin(ytr, classes), np.isin(yte, classes)
        xtr, ytr, xte, yte = xtr[keep_tr], ytr[keep_tr], xte[keep_te], yte[keep_te]
        lookup = {c: i for i, c in enumerate(classes)}
        ytr = np.array([lookup[int(v)] for v in ytr]); yte = np.array([lookup[int(v)] for v in yte])  # noqa: E702
    if max_train is not None:
        xtr, ytr = xtr[:max_train], ytr[:max_train]
    x = np.concatenate([xtr, xte]).astype(np.float32) / 255.0
    y = np.concatenate([ytr, yte])
    num_classes = len(classes) if classes is not None else 10
    return tabular_data(x, y, split, seed, num_classes, normalize, train_rows=len(ytr))


def _mnist_3v8(root: Any = None, split: str = "public", seed: int = 0, **kwargs: Any) -> Data:
    kwargs.pop("classes", None)
    return load_mnist_data(root, split, seed, classes=(3, 8), **kwargs)


def _with_options(loader: Any, *options: str) -> Any:
    """``loader`` taking its ``options`` (and ``normalize``) from the name's ``:spec``."""

    def load(root: Any = None, split: str = "public", seed: int = 0, spec: str = "", **kwargs: Any) -> Data:
        kwargs.update(_parse_options(spec, options))
        return loader(root, split, seed, **kwargs)

    load.__doc__ = loader.__doc__
    return load


# ---------------------------------------------------------------------------
# UCI Adult
# ---------------------------------------------------------------------------
def _read_adult(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(ADULT_COLUMNS):
            continue  # blank lines and the "|1x3 Cross validator" header of adult.test
        parts[-1] = parts[-1].rstrip(".")
        rows.append(parts)
    return rows


def load_adult_arrays(root: str | os.PathLike | None = None
                      ) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """``(x, y, n_train, feature_names)``: ``adult.data`` rows then ``adult.test`` rows;
    numerics standardised with training statistics, categoricals one-hot (``?`` is its
    own category), label ``income > 50K``."""
    folder = data_root(root) / "Adult"
    train_path, test_path = folder / "adult.data", folder / "adult.test"
    if not train_path.is_file():
        raise GraphForgetError(f"UCI Adult not found: expected {train_path}")
    train = _read_adult(train_path)
    test = _read_adult(test_path) if test_path.is_file() else []
    rows = train + test
    cols = list(zip(*rows, strict=False))
    blocks, names = [], []
    n_train = len(train)
    for j, col in enumerate(ADULT_COLUMNS[:-1]):
        values = cols[j]
        if col in ADULT_NUMERIC:
            v = np.asarray(values, dtype=np.float64)[:, None]
            blocks.append(_standardise(v, v[:n_train]))
            names.append(col)
        else:
            cats = sorted(set(values))
            index = {c: i for i, c in enumerate(cats)}
            onehot = np.zeros((len(values), len(cats)))
            onehot[np.arange(len(values)), [index[v] for v in values]] = 1.0
            blocks.append(onehot)
            names += [f"{col}={c}" for c in cats]
    x = np.concatenate(blocks, axis=1)
    y = np.asarray([1 if r[-1] == ">50K" else 0 for r in rows], dtype=np.int64)
    return x, y, n_train, names


def load_adult_data(root: Any = None, split: str = "public", seed: int = 0, normalize: bool = False,
                    max_train: int | None = None, **_: Any) -> Data:
    """UCI Adult (48,842 rows, 108 features after one-hot). ``max_train`` keeps the
    first training rows (scale-down runs)."""
    x, y, n_train, names = load_adult_arrays(root)
    if max_train is not None and max_train < n_train:
        keep = np.r_[np.arange(max_train), np.arange(n_train, len(y))]
        x, y, n_train = x[keep], y[keep], max_train
    data = tabular_data(x, y, split, seed, 2, normalize, train_rows=n_train)
    data.feature_names = names
    return data


register_dataset("adult", _with_options(load_adult_data, "max_train"), task="tabular", default_split="public",
                 description="UCI Adult income (48,842 rows, one-hot; public = adult.data/adult.test)")
register_dataset("digits", _with_options(load_digits_data), task="tabular", default_split="0.8/0.2",
                 description="scikit-learn digits, 1,797 x 64, 10 classes (embedded)")
register_dataset("breast-cancer", _with_options(load_breast_cancer_data), task="tabular", default_split="0.8/0.2",
                 aliases=("breastcancer",),
                 description="scikit-learn breast cancer, 569 x 30, binary (embedded)")
register_dataset("classification", load_classification_data, task="tabular", default_split="0.8/0.2",
                 aliases=("make-classification",),
                 description="sklearn make_classification, e.g. classification:n_samples=20000")
register_dataset("mnist", _with_options(load_mnist_data, "max_train"), task="tabular", default_split="public",
                 description="MNIST from IDX files (70,000 x 784, 10 classes)")
register_dataset("mnist-3v8", _with_options(_mnist_3v8, "max_train"), task="tabular", default_split="public",
                 aliases=("mnist3v8",), description="MNIST digits 3 vs 8 (binary; label 1 = 8)")
