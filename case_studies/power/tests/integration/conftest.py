"""Integration tests use a real local Ray and a real redis-server (installed if missing)."""

from heron.testing.ray_local import ray_local  # noqa: F401  (pytest fixture, used by name)
