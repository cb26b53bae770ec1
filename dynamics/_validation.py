"""Input validation shared by every public function.

Each helper converts its input to a float64 array (NumPy or JAX input alike)
and raises ``ValueError``/``TypeError`` naming the argument and what was
expected, so that bad input never turns into a silent NaN downstream.
"""

from __future__ import annotations

import numbers

import numpy as np


def _describe(a) -> str:
    return f"shape {tuple(np.shape(a))}"


def as_array(x, name: str, *, ndim=None, finite: bool = True, dtype=np.float64) -> np.ndarray:
    """Convert ``x`` to a NumPy array of ``dtype``, checking its rank and finiteness.

    Complex input is rejected (NumPy would silently keep only the real part)."""
    if np.iscomplexobj(x) or _has_complex_leaf(x):
        raise TypeError(f"{name} must be a real numeric array, got a complex array")
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real numeric array, got {type(x).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must be {want}, got {arr.ndim}-D array with {_describe(arr)}")
    if finite and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite entries (NaN or inf)")
    return arr


def _has_complex_leaf(x) -> bool:
    """A list/tuple holding complex numbers or complex arrays (``np.iscomplexobj`` of a list is False)."""
    if isinstance(x, (list, tuple)):
        return any(isinstance(v, complex) or np.iscomplexobj(v) or _has_complex_leaf(v) for v in x)
    return False


def as_matrix(x, name: str, **kw) -> np.ndarray:
    return as_array(x, name, ndim=2, **kw)


def check_pairs(x, x_prime, names=("x", "x_prime")):
    """Two views of n paired rows: finite 2-D arrays of equal shape (n, m) with n, m >= 1."""
    x = as_matrix(x, names[0])
    x_prime = as_matrix(x_prime, names[1])
    if x.shape != x_prime.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (n, m), got {x.shape} and {x_prime.shape}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{names[0]} must have at least one pair and one feature (n, m >= 1), got shape {x.shape}")
    return x, x_prime


def as_symmetric(x, name: str, *, rtol: float = 1e-8) -> np.ndarray:
    """A finite square matrix equal to its transpose up to ``rtol`` (relative to its largest entry)."""
    arr = as_matrix(x, name)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got {_describe(arr)}")
    scale = max(float(np.max(np.abs(arr))) if arr.size else 0.0, np.finfo(float).tiny)
    asym, sym = _symmetrize(arr)
    if asym > rtol * scale:
        raise ValueError(
            f"{name} must be symmetric: max |{name} - {name}^T| = {asym:.3g} exceeds "
            f"{rtol:g} x max|{name}| = {rtol * scale:.3g}"
        )
    return sym


def _symmetrize(arr, block: int = 256):
    """(max |A − A^T|, (A + A^T) / 2), computed in square tiles: a whole-matrix A − A^T reads A^T
    with a stride of one row per element, several times slower for the large kernels of S §5."""
    n = arr.shape[0]
    out = np.empty_like(arr)
    asym = 0.0
    for i in range(0, n, block):
        for j in range(i, n, block):
            upper, lower_t = arr[i:i + block, j:j + block], arr[j:j + block, i:i + block].T
            if upper.size:
                asym = max(asym, float(np.max(np.abs(upper - lower_t))))
            tile = 0.5 * (upper + lower_t)
            out[i:i + block, j:j + block] = tile
            out[j:j + block, i:i + block] = tile.T
    return asym, out


def as_times(t, name: str = "t", *, nonnegative: bool = True) -> np.ndarray:
    """Times: a finite 1-D (or scalar, promoted) array, non-decreasing and (by default) non-negative."""
    arr = as_array(t, name, ndim=(0, 1))
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one time")
    if nonnegative and np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative (gradient-flow time), got min {arr.min():.3g}")
    if np.any(np.diff(arr) < 0):
        raise ValueError(f"{name} must be non-decreasing")
    return arr


def check_positive_int(n, name: str, *, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


def check_positive(x, name: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (>= 0 with ``allow_zero``); 0-d NumPy/JAX arrays are accepted."""
    if not isinstance(x, numbers.Real) and np.ndim(x) == 0 and hasattr(x, "dtype") and not is_traced(x):
        if np.issubdtype(np.dtype(x.dtype), np.integer) or np.issubdtype(np.dtype(x.dtype), np.floating):
            x = np.asarray(x).item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = float(x)
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {want}, got {x}")
    return x


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_callable(f, name: str, signature: str = ""):
    """``f`` must be callable; ``signature`` (e.g. "apply_fn(params, x) -> (n, d)") is quoted in the error."""
    if not callable(f):
        want = f" {signature}" if signature else ""
        raise TypeError(f"{name} must be callable{want}, got {type(f).__name__}")
    return f


def is_traced(*xs) -> bool:
    """True if any leaf of ``xs`` is a JAX tracer (inside jit/grad/vmap): value checks must then be skipped."""
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(xs))


def check_positive_if_concrete(x, name: str, *, allow_zero: bool = False):
    """:func:`check_positive` for a number that may also be a 0-d (JAX or NumPy) array; a JAX tracer is
    passed through unchecked (inside jit the value is unknown).  Returns ``x`` unchanged."""
    if is_traced(x):
        return x
    if isinstance(x, (bool, np.bool_)) or np.ndim(x) != 0 or not np.isrealobj(x) \
            or getattr(getattr(x, "dtype", None), "kind", "f") == "b":
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    try:
        value = float(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}") from exc
    check_positive(value, name, allow_zero=allow_zero)
    return x


def check_finite_if_concrete(x, name: str):
    """Raise ``ValueError`` naming ``name`` if the concrete array ``x`` has a NaN or inf entry.

    For functions that must also run under ``jax.jit``/``grad``/``vmap``: a JAX tracer (value unknown)
    passes unchecked, every concrete input (NumPy, JAX, list) is checked.  Returns ``x`` unchanged.
    """
    # The dtype is known inside a trace too: complex input is rejected there as well.
    if np.iscomplexobj(x) or _has_complex_leaf(x):
        raise TypeError(f"{name} must be a real numeric array, got a complex array")
    if is_traced(x):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "fc" and arr.size and not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite entries (NaN or inf)")
    return x


def check_tree_finite_if_concrete(tree, name: str = "params"):
    """:func:`check_finite_if_concrete` for every leaf of a dict/tuple/list of arrays (model parameters):
    "params must be finite, got 3 non-finite entries (NaN or inf) in params['V'][1]".  Returns ``tree``."""
    for leaf_name, leaf in _named_leaves(tree, name):
        try:
            check_finite_if_concrete(leaf, leaf_name)
        except ValueError as exc:
            detail = str(exc).split(", got ", 1)[-1]
            raise ValueError(f"{name} must be finite, got {detail} in {leaf_name}") from None
        except TypeError:
            raise TypeError(f"{name} must hold real numeric arrays, got a complex array in {leaf_name}") from None
    return tree


def _named_leaves(tree, name):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _named_leaves(v, f"{name}[{k!r}]")
    elif isinstance(tree, (tuple, list)):
        for i, v in enumerate(tree):
            yield from _named_leaves(v, f"{name}[{i}]")
    elif tree is not None:
        yield name, tree
