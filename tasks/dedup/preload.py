"""Tasks layer (dedup): imported by the worker processes' fork server, so every signing worker
starts with the compiled tokeniser loaded instead of each loading it on its first shard."""

from tasks.dedup.kernels import load

load()
