"""Looking inside models: sizes, costs and (later) activations."""
