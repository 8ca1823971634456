"""Power-domain features and states."""
