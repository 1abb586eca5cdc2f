"""Tasks layer (dedup): exact, MinHash-LSH and optional embedding near-duplicate removal.

`stage.run_dedup` is the entry point; the other modules are its Prefect-free building blocks:
shingles -> minhash (band keys, in `tasks.shards` worker processes) -> lsh (candidate pairs) ->
verify (number guard, exact Jaccard) -> clusters (union-find, kept member); `semantic`/`embed`
for embeddings (the encoder is `tasks.embeddings`) and `store` for every read and write of the
warehouse.
"""
