"""Backends: an IR kernel and a precision allocation in, source text out."""
