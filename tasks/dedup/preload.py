"""Tasks layer (dedup): imported by the worker processes' fork server, so every signing worker
starts with the signing code imported and the compiled kernels loaded, instead of each paying
for that on its first shard."""

import tasks.dedup.minhash  # noqa: F401  (what a worker unpickles `sign_shard` from)
from tasks.dedup.kernels import load

load()
