"""Schema extensions: scope, document limits, input hygiene, cost, errors, logs and metrics."""
