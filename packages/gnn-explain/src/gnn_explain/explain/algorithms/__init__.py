"""One explainer per module, all subclasses of :class:`gnn_explain.explain.Explainer`."""
