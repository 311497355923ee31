r"""Link predictors: a backbone encoder with a dot-product or MLP decoder, trained with BCE.

.. math::
    z = f_\theta(X, A_\text{train}), \qquad
    s(u, v) = \begin{cases} z_u^\top z_v & \text{dot} \\
                            \mathrm{MLP}(z_u \odot z_v) & \text{mlp} \end{cases}

trained on the binary cross-entropy of the training edges (label 1) against as many
uniformly sampled non-edges (label 0), resampled every epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.training import TrainConfig, forward, seeded

__all__ = ["LinkPredictor", "train_link_predictor", "DECODERS"]

DECODERS = ("dot", "mlp")


class LinkPredictor(torch.nn.Module):
    """An encoder from :func:`graphforget.models.build_model` plus an edge decoder.

    Calling the module returns node embeddings (the backbone call signature), so the
    shared helpers (:func:`graphforget.training.forward`) work unchanged; scores of
    node pairs come from :meth:`decode`. The encoder's message-passing layers are
    exposed as :attr:`convs` (where GNNDelete attaches its operators).

    Args:
        encoder: a backbone (``model(x, edge_index, edge_weight=None) -> [n, d]``).
        embedding_dim: the encoder's output size ``d``.
        decoder: ``"dot"`` or ``"mlp"``. (default: ``"dot"``)
    """

    def __init__(self, encoder: torch.nn.Module, embedding_dim: int, decoder: str = "dot") -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise GraphForgetError(f"unknown decoder {decoder!r}; choose one of: {', '.join(DECODERS)}")
        self.encoder = encoder
        self.decoder_name = decoder
        self.decoder = (torch.nn.Sequential(torch.nn.Linear(embedding_dim, embedding_dim),
                                            torch.nn.ReLU(), torch.nn.Linear(embedding_dim, 1))
                        if decoder == "mlp" else None)

    @property
    def convs(self) -> torch.nn.ModuleList:
        return getattr(self.encoder, "convs", torch.nn.ModuleList())

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if edge_weight is not None:
            return self.encoder(x, edge_index, edge_weight=edge_weight)
        return self.encoder(x, edge_index)

    def decode(self, z: Tensor, pairs: Tensor) -> Tensor:
        """Logits of the node pairs ``pairs`` (``[2, k]``) given embeddings ``z``."""
        if self.decoder is None:
            return (z[pairs[0]] * z[pairs[1]]).sum(-1)
        return self.decoder(z[pairs[0]] * z[pairs[1]]).view(-1)


def link_loss(model: LinkPredictor, z: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
    """Mean BCE of positives (label 1) and negatives (label 0)."""
    pos, neg = model.decode(z, positives), model.decode(z, negatives)
    logits = torch.cat([pos, neg])
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    return F.binary_cross_entropy_with_logits(logits, labels)


def train_link_predictor(model: LinkPredictor, data: Data, config: TrainConfig | None = None,
                         seed: int | None = None) -> dict[str, list[float]]:
    """Trains ``model`` (in place) on the training edges of ``data``; returns the loss history.

    Negatives are resampled every epoch from a generator seeded by ``seed``, so the
    result is a deterministic function of ``(data, seed)`` on CPU.
    """
    from graphforget.link._split import canonical_edges, edge_keys, sample_non_edges

    config = config or TrainConfig()
    positives = canonical_edges(data.edge_index)
    if positives.size(1) == 0:
        raise GraphForgetError("no training edges left to train the link predictor on")
    n = int(data.num_nodes)
    g = torch.Generator().manual_seed(0 if seed is None else int(seed))
    avoid = edge_keys(data.edge_index, n)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                           lr=config.lr, weight_decay=config.weight_decay)
    history: dict[str, list[float]] = {"loss": []}
    with seeded(seed):
        for _ in range(int(config.epochs)):
            model.train()
            opt.zero_grad()
            negatives = sample_non_edges(None, n, positives.size(1), g, avoid_keys=avoid)
            loss = link_loss(model, forward(model, data), positives, negatives)
            loss.backward()
            opt.step()
            history["loss"].append(float(loss.detach()))
    model.eval()
    return history
