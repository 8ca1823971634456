"""Training tests share one small local Ray (see heron.testing.ray_local)."""

from heron.testing.ray_local import ray_local  # noqa: F401  (pytest fixture, used by name)
