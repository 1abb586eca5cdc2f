"""`python -m flows.cli`: the same command line as the `teachable` script."""

from flows.cli.app import entrypoint

entrypoint()
