"""The audit trail over GraphQL: rows, filters, the chain check and live events."""
