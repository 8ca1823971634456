"""Template files for :mod:`heron.scaffold` (a package so ``*.tmpl`` ships as package data)."""
