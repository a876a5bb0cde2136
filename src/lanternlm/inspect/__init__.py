"""Looking inside models: sizes and costs from a config (params.py), one forward pass stage by stage (trace.py)."""
