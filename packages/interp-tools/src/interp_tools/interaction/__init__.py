"""The local interaction basis (LIB; Bushnaq et al. 2024) and interaction graphs."""

from interp_tools.interaction.basis import (
    LayerBasis,
    LIBConfig,
    fit_lib,
    jacobian_gram,
    lib_layer,
    node_activations,
    pca_bases,
    pca_basis,
)
from interp_tools.interaction.graph import (
    edges_for_fraction,
    gini,
    integrated_gradients,
    interaction_graph,
)

__all__ = [
    "LIBConfig",
    "LayerBasis",
    "edges_for_fraction",
    "fit_lib",
    "gini",
    "integrated_gradients",
    "interaction_graph",
    "jacobian_gram",
    "lib_layer",
    "node_activations",
    "pca_bases",
    "pca_basis",
]
