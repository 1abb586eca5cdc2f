"""Tasks layer (publish): assemble chat records from the warehouse and write versioned releases."""
