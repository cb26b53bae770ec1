"""Float64 for the package's own computations, without touching the process's JAX configuration.

The theory checks compare closed forms with integrated flows to 1e-8 and better, which float32
cannot resolve, so the package computes in float64.  It does so *scoped*: importing ``dynamics``
leaves ``jax_enable_x64`` as the user set it, and each public entry point of the package runs inside
``jax.enable_x64(True)``.  When float64 was off in the caller, JAX arrays in the result are handed
back as NumPy float64 arrays (a JAX float64 array used outside the scope would be truncated to
float32 by the next ``jax.numpy`` operation); a returned plain function is scoped the same way.

Functions meant to be traced inside a user's program keep the caller's precision and are not
scoped: the losses (:mod:`dynamics.losses`), the network ``apply`` functions and the Stiefel
geometry compute in the dtype of their inputs.
"""

from __future__ import annotations

import functools
import inspect
import types

import jax
import numpy as np

_WRAPPED: dict[int, object] = {}  # id(module-level function) -> its scoped wrapper: re-exports stay one object


def _x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def _to_host(out):
    """JAX arrays of ``out`` (any pytree) as NumPy arrays; tracers and other objects unchanged;
    a returned plain function scoped with :func:`float64`."""
    if isinstance(out, (types.FunctionType, functools.partial)):
        return _scoped(out)  # not memoised: a returned closure must be freed with its wrapper

    def leaf(x):
        if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
            return np.asarray(x)
        return x

    try:
        return jax.tree_util.tree_map(leaf, out)
    except Exception:  # noqa: BLE001 - an object JAX cannot flatten is returned as it is
        return out


def float64(fn):
    """Run ``fn`` with float64 enabled (``jax.enable_x64``), leaving the caller's setting alone.

    Already-enabled callers (the test suite, ``verify``, a user who set ``jax_enable_x64``) call
    ``fn`` directly and get its result unchanged.  Otherwise the result's JAX arrays come back as
    NumPy float64 arrays.  The same function is always wrapped by the same object.
    """
    key = id(fn)
    if key in _WRAPPED:
        return _WRAPPED[key]
    if getattr(fn, "__dynamics_float64__", False):
        return fn
    scoped = _scoped(fn)
    _WRAPPED[key] = scoped  # the wrapper keeps fn alive, so its id is never reused while memoised
    _WRAPPED[id(scoped)] = scoped
    return scoped


def _scoped(fn):
    """The float64-scoped wrapper of ``fn`` (see :func:`float64`), not memoised."""
    if getattr(fn, "__dynamics_float64__", False):
        return fn

    @functools.wraps(fn)
    def scoped(*args, **kwargs):
        if _x64_enabled():
            return fn(*args, **kwargs)
        with jax.enable_x64(True):
            return _to_host(fn(*args, **kwargs))

    scoped.__dynamics_float64__ = True
    return scoped


def _scope_class(cls):
    """Scope the public methods (and ``__call__``) of a class defined in the package, in place."""
    if getattr(cls, "__dynamics_float64__", False):
        return cls
    for name, member in list(vars(cls).items()):
        if (name.startswith("_") and name != "__call__") or not inspect.isfunction(member):
            continue
        setattr(cls, name, float64(member))
    cls.__dynamics_float64__ = True
    return cls


def scope_module(module, *, keep=()):
    """Replace the public functions and classes of ``module`` (its ``__all__`` and the public names it
    defines itself) by float64-scoped versions, except the objects in ``keep`` (identity)."""
    keep_ids = {id(obj) for obj in keep}
    own = [n for n, obj in vars(module).items() if not n.startswith("_")
           and (getattr(obj, "__module__", None) or "").startswith(module.__name__)]
    for name in dict.fromkeys([*getattr(module, "__all__", []), *own]):
        obj = getattr(module, name, None)
        if obj is None or id(obj) in keep_ids or isinstance(obj, types.ModuleType):
            continue
        if not (getattr(obj, "__module__", "") or "").startswith("dynamics"):
            continue
        if inspect.isclass(obj):
            if not issubclass(obj, BaseException):
                _scope_class(obj)
        elif isinstance(obj, types.FunctionType):
            setattr(module, name, float64(obj))
