"""Flows layer: the `teachable` command line (app.py registers one module per command group)."""
