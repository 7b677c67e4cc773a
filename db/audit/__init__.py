"""The audit trail: what is recorded, how rows are chained, and how events leave the process."""
