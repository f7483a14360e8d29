"""Tuning: samples (docs/method.md §6), training (§2), the mapper (§3), refinement (§4), the
first-order optimum (§7) and the native type search (docs/native.md)."""
