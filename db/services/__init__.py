"""Write use-cases and their invariants; they flush, they never commit."""
