"""Schema extensions: per-operation scope, error shaping, operation logging and metrics."""
