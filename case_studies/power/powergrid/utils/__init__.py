"""Cost and safety helpers."""
