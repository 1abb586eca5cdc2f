"""Tasks layer (publish): assemble chat records from the warehouse, write versioned releases and
their HTML report (`report/`)."""
