"""Tasks layer (readers): reading records from local files and Hugging Face datasets.

Shared by ingest (source pools) and decontamination (benchmarks). `files` streams JSON lines,
JSON arrays, CSV/TSV and Parquet (gzip too) as `(location, record | Bad)` items; `hf` opens a
Hugging Face dataset (hub id or local folder) in streaming mode. Importing this package loads
neither module, so neither `datasets` nor the file readers' dependencies.
"""
