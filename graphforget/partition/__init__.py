"""Graph partitioners for sharded (SISA / GraphEraser) unlearning.

``make_partitioner(name, **kwargs).partition(data, k, nodes="train")`` returns a
:class:`Partition`; names resolve case- and dash-insensitively.
"""

from graphforget.partition._algorithms import (
    BEKMPartitioner,
    BLPAPartitioner,
    LouvainPartitioner,
    MetisPartitioner,
    RandomPartitioner,
    balanced_kmeans_assign,
)
from graphforget.partition._base import (
    Partition,
    Partitioner,
    capacity,
    induced_view,
    make_partitioner,
    partitioner_names,
    register_partitioner,
    select_nodes,
)
from graphforget.partition._guide import GUIDEPartitioner, gpi, guide_objective, polar
from graphforget.partition._property_aware import PropertyAwarePartitioner, property_losses

__all__ = [
    "Partition", "Partitioner", "make_partitioner", "partitioner_names", "register_partitioner",
    "capacity", "induced_view", "select_nodes", "balanced_kmeans_assign",
    "RandomPartitioner", "BLPAPartitioner", "LouvainPartitioner", "BEKMPartitioner",
    "MetisPartitioner", "GUIDEPartitioner", "gpi", "polar", "guide_objective",
    "PropertyAwarePartitioner", "property_losses",
]
