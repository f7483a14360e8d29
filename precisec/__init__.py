"""precisec: mixed-precision tuning of numerical C kernels with a differentiable noise model."""

import os as _os

# The noise model's graphs are small and compiled once per kernel: XLA's backend
# optimisation costs more compile time than it saves in run time (measured: about half
# the tuning time of jet), so it is turned off unless the user set XLA_FLAGS themselves.
_os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

__version__ = "0.1.0"
