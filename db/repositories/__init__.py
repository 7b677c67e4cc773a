"""Repositories: all SQL lives here; reads are filtered by owner and batched for loaders."""
