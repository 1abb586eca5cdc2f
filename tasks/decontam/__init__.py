"""Tasks layer (decontam): check prompts against public benchmarks, layer by layer.

`registry` knows the benchmarks, `loading` reads them, `encode` turns texts into token ids
and n-gram hashes, `ngrams` / `minhash` / `embed` are the detection layers, `mathsig` the
agreement of numbers and answers every layer checks, `judge` the optional LLM judge and
`stage` the entry point `run_decontam`. Nothing here imports Prefect.
"""
