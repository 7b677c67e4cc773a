"""Test support code: throwaway PostgreSQL, test schemas and clients."""
