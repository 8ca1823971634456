"""Test helpers shared by HERON's own suite and case studies (needs pytest)."""
