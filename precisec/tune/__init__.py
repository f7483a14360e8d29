"""Tuning: samples, the mapper, training, refinement and type search (docs/method.md §3–5)."""
