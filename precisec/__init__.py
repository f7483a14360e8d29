"""precisec: mixed-precision tuning of numerical C kernels with a differentiable noise model."""

__version__ = "0.1.0"
