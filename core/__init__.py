"""Cross-cutting foundations shared by every layer: settings, logging and request context."""
