r"""Pieces shared by the learned approximate node-classification updates (MEGU, SGU,
D2DGN, GUKD): the knowledge-distillation loss, the nodes a request targets and the
graph on which the forgotten nodes' outputs are read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest

__all__ = ["kd_loss", "request_targets", "forget_view", "first_layer_output"]


def kd_loss(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Hinton's distillation loss :math:`T^2\,\mathrm{KL}\big(\sigma(t/T)\,\|\,\sigma(s/T)\big)`
    averaged over rows (``student``/``teacher``: logits ``[n, C]``; the teacher is not
    detached here)."""
    if student.size(0) == 0:
        return student.sum() * 0.0
    t = float(temperature)
    return F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(teacher / t, dim=-1),
                    reduction="batchmean", log_target=True) * t * t


def request_targets(request: ForgetRequest) -> Tensor:
    """The nodes a request names: forgotten nodes, the rows of a feature request, or the
    endpoints of forgotten edges (sorted, unique)."""
    if isinstance(request, (NodeRequest, FeatureRequest)):
        return torch.unique(request.node_ids)
    if isinstance(request, EdgeRequest):
        return torch.unique(request.edge_index.reshape(-1))
    raise TypeError(f"no target nodes for a {request.kind} request")


def forget_view(request: ForgetRequest, before: Data, retained: Data) -> Data:
    """The graph on which the targets' outputs are read while unlearning: the retained
    graph, except that forgotten nodes keep their original features (they are isolated
    there, so no other node sees them; their rows are what the model learned from)."""
    view = Data(x=retained.x, edge_index=retained.edge_index, num_nodes=retained.num_nodes)
    ew = getattr(retained, "edge_weight", None)
    if ew is not None:
        view.edge_weight = ew
    if isinstance(request, NodeRequest):
        x = retained.x.clone()
        x[request.node_ids] = before.x[request.node_ids]
        view.x = x
    return view


def first_layer_output(model: torch.nn.Module, data: Data) -> tuple[Tensor, Tensor | None]:
    """The backbone's logits on ``data`` and the output of its first message-passing layer
    (``model.convs[0]``, or a user model's first ``MessagePassing`` submodule, captured by a
    forward hook; ``None`` for backbones without convs)."""
    from graphforget.training import forward
    from graphforget.user_model import UserModel

    convs = getattr(model, "convs", None)
    if isinstance(model, UserModel):  # the user's first MessagePassing layer (registration order)
        first = convs[0] if convs else None
    else:
        first = convs[0] if isinstance(convs, torch.nn.ModuleList) and len(convs) >= 2 else None
    if first is None:
        return forward(model, data), None
    captured: list[Tensor] = []
    handle = first.register_forward_hook(
        lambda _m, _a, out: captured.append(out[0] if isinstance(out, tuple) else out))
    try:
        out = forward(model, data)
    finally:
        handle.remove()
    return out, captured[0] if captured else None
