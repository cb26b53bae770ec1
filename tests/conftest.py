import os

os.environ.setdefault("MPLBACKEND", "Agg")

import dynamics  # noqa: E402,F401  (enables float64 before any test builds arrays)
