"""Frontends: source text in, `precisec.ir.Kernel` out."""
