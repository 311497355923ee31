r"""Approximate unlearning: an update that moves the trained model toward the retrained
one, without a guarantee.

One module per method: ``gif`` (GIF and IF), ``gnndelete``, ``gradient_ascent``, ``utu``,
``fedlu``, ``jackknife``, ``deltagrad``, ``pru``, ``feature_label``, and the image-classifier
baselines ``finetune``, ``vision_gradient_ascent``, ``neggrad_plus``, ``random_label``,
``l1_sparse``, ``salun``, ``scrub``, ``fisher``, ``boundary_shrink``, ``boundary_expand``.
Shared by the family: ``influence`` (Hessian-vector products and inverse-HVP solvers).

Every name below is importable from this package; each is loaded on first use.
"""

from graphforget._moved import lazy_exports

_EXPORTS = {
    "BoundaryExpand": "graphforget.approx.boundary_expand",
    "BoundaryShrink": "graphforget.approx.boundary_shrink",
    "D2DGN": "graphforget.approx.d2dgn",
    "DeltaGrad": "graphforget.approx.deltagrad",
    "kd_loss": "graphforget.approx.distillation",
    "request_targets": "graphforget.approx.distillation",
    "forget_view": "graphforget.approx.distillation",
    "first_layer_output": "graphforget.approx.distillation",
    "lbfgs_product": "graphforget.approx.deltagrad",
    "LabelRequest": "graphforget.approx.feature_label",
    "FeatureLabel": "graphforget.approx.feature_label",
    "FedLU": "graphforget.approx.fedlu",
    "FineTune": "graphforget.approx.finetune",
    "FisherForgetting": "graphforget.approx.fisher",
    "GIF": "graphforget.approx.gif",
    "IF": "graphforget.approx.gif",
    "influenced_nodes": "graphforget.approx.gif",
    "message_passing_depth": "graphforget.models",
    "GNNDelete": "graphforget.approx.gnndelete",
    "attach_operators": "graphforget.approx.gnndelete",
    "GradientAscent": "graphforget.approx.gradient_ascent",
    "GUKD": "graphforget.approx.gukd",
    "GCNIITeacher": "graphforget.approx.gukd",
    "ascend": "graphforget.approx.gradient_ascent",
    "ObjectiveHessian": "graphforget.approx.influence",
    "LinkObjectiveHessian": "graphforget.approx.influence",
    "link_objective": "graphforget.approx.influence",
    "InverseHVPResult": "graphforget.approx.influence",
    "inverse_hvp": "graphforget.approx.influence",
    "largest_eigenvalue": "graphforget.approx.influence",
    "flat_grad": "graphforget.approx.influence",
    "trainable_parameters": "graphforget.approx.influence",
    "SOLVERS": "graphforget.approx.influence",
    "InfinitesimalJackknife": "graphforget.approx.jackknife",
    "fit_elastic_net": "graphforget.approx.jackknife",
    "L1Sparse": "graphforget.approx.l1_sparse",
    "MEGU": "graphforget.approx.megu",
    "high_influence_neighbours": "graphforget.approx.megu",
    "NegGradPlus": "graphforget.approx.neggrad_plus",
    "PRU": "graphforget.approx.pru",
    "RandomLabel": "graphforget.approx.random_label",
    "SalUn": "graphforget.approx.salun",
    "SCRUB": "graphforget.approx.scrub",
    "SGU": "graphforget.approx.sgu",
    "node_influence": "graphforget.approx.sgu",
    "UtU": "graphforget.approx.utu",
    "VisionGradientAscent": "graphforget.approx.vision_gradient_ascent",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
