"""Helpers shared by HERON's own suite, case studies and benchmarks.

``heron.testing.redis_server`` starts a private redis-server (no pytest needed);
``heron.testing.redis_service`` wraps it as pytest fixtures.
"""
