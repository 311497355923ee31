r"""Link prediction as a first-class task.

* edge splits with sampled negatives (:func:`link_split`), deletion pools
  (:func:`deletion_pool`, :func:`sample_link_edges`);
* encoders from :func:`graphforget.models.build_model` with a dot-product or MLP
  decoder (:class:`LinkPredictor`, :func:`train_link_predictor`);
* metrics: AUROC/AUPRC on held-out edges (:func:`dt_metrics`) and GNNDelete's
  :math:`D_f` protocol (:func:`df_auc`, :func:`df_metrics`);
* :class:`LinkRetrain` (exact reference, :mod:`graphforget.exact.retrain`) and the ``link`` benchmark task
  (``graphforget bench --task link``); the OpenGU edge protocol
  (:func:`opengu_edge_protocol`).

See ``docs/link_prediction.md``.
"""

from graphforget._moved import lazy_exports
from graphforget.link._metrics import auprc, deleted_edges, df_auc, df_metrics, dt_metrics, link_scores
from graphforget.link._model import DECODERS, LinkPredictor, train_link_predictor
from graphforget.link._split import (
    canonical_edges,
    deletion_pool,
    is_link_data,
    k_hop_mask,
    link_split,
    sample_link_edges,
    sample_non_edges,
    small_link_graph,
)
from graphforget.link._task import LinkTask, load_link_dataset, opengu_edge_protocol, parse_link_split
from graphforget.link._unlearner import LinkGNNUnlearner

_METHODS = {"LinkRetrain": "graphforget.exact.retrain"}
__getattr__ = lazy_exports(__name__, _METHODS)

__all__ = [
    "link_split", "is_link_data", "canonical_edges", "sample_non_edges", "deletion_pool",
    "sample_link_edges", "small_link_graph", "k_hop_mask", "LinkPredictor", "train_link_predictor",
    "DECODERS", "auprc", "df_auc", "df_metrics", "dt_metrics", "deleted_edges", "link_scores",
    "LinkGNNUnlearner", "LinkRetrain", "LinkTask", "load_link_dataset", "opengu_edge_protocol",
    "parse_link_split",
]
