"""Pre-configured setups: one folder per setup with a ``config.yml``."""

from powergrid.setups.loader import get_available_setups, load_setup

__all__ = ["get_available_setups", "load_setup"]
