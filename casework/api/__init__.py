"""Machine-facing APIs (one package per standard)."""
