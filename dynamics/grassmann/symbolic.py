"""Symbolic (sympy) derivations of the Grassmannian dynamics of E (Thm 2, Riccati form, Thm 3, E7, E[C]).

The copy of E lost its formulas, so nothing here is transcribed: every formula used by
:mod:`dynamics.grassmann` is derived from its premises on generic small explicit matrices (every
entry its own symbol, C symmetric), and the tests check the numerics against these derivations.

==========================================  ==============================================================
derivation                                  result
==========================================  ==============================================================
:func:`trace_form`                          E1/E2 for f(x) = Θ^T x equal Tr(Θ^T C Θ) with C of E7
:func:`free_gradients`                      ∇_V L = 2 C V W W^T, ∇_W L = 2 V^T C V W for L = Tr(W^T V^T C V W)
:func:`theta_flow`                          Thm 2: dΘ/dt from the Grassmannian gradients of V and W, the exact
                                            residual against −k (I − ΘΘ^T) C Θ, k solved for (k = 2), which
                                            constraints it needs (W^T W = I only) — tall (h <= d) and wide
                                            (h >= d) networks
:func:`riccati`                             dP/dt = −2 [(I − P) C P + P C (I − P)] for P = ΘΘ^T
:func:`theorem3`                            E10 in C's eigenbasis, d‖z‖²/dt on sphere and ball, d(z_1²)/dt
:func:`expected_data_matrix`                E[C] = −Σ (contrastive), −(Σ + μμ^T) (non-contrastive)
==========================================  ==============================================================

sympy is imported when this module is; :mod:`dynamics.grassmann` does not import it eagerly — use
``from dynamics.grassmann import symbolic``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import sympy as sp

from .._validation import check_choice, check_positive_int

# ---------------------------------------------------------------------------------------------
# helpers


def _sizes(**sizes):
    """Each size an integer >= 1 (named in the error)."""
    return tuple(check_positive_int(v, k) for k, v in sizes.items())


def _matrix(name, rows, cols):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def symmetric_matrix(name, d):
    """d×d symmetric matrix of independent real symbols c_ij = c_ji.

    The symmetric data matrix C of the trace form E7.
    """
    (d,) = _sizes(d=d)
    return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"{name}_{min(i, j)}{max(i, j)}", real=True))


def _is_zero_matrix(M) -> bool:
    return all(sp.expand(e) == 0 for e in M)


def _cayley_orthogonal(n, params):
    """Exact rational orthogonal matrix (I − A)(I + A)^{-1} from a skew A with the given rational entries."""
    A = sp.zeros(n, n)
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            A[i, j] = sp.Rational(params[k])
            A[j, i] = -A[i, j]
            k += 1
    return (sp.eye(n) - A) * (sp.eye(n) + A).inv()


def stiefel_point(rows, cols, seed=0):
    r"""An exact (rational) semi-orthogonal rows×cols matrix: orthonormal columns if tall, rows if wide.

    A point of the constraint set of E Thm 2 ($W^\top W = I$).
    """
    rows, cols = _sizes(rows=rows, cols=cols)
    seed = check_positive_int(seed, "seed", minimum=0)
    n = max(rows, cols)
    params = [sp.Rational((7 * k + 3 * seed) % 11 + 1, (5 * k + seed) % 7 + 2) for k in range(n * (n - 1) // 2)]
    Q = _cayley_orthogonal(n, params)
    return Q[:rows, :cols]


# ---------------------------------------------------------------------------------------------
# E1 / E2 / E7


class TraceForm(NamedTuple):
    r"""E1 or E2 of the linear model and its trace form E7, $\mathcal{L} = \operatorname{tr}(\Theta^\top C\,\Theta)$, with whether they agree (``identity_holds``)."""
    loss: sp.Expr          # E1 (or E2) of the linear model, summed literally over the n triplets
    trace: sp.Expr         # Tr(Θ^T C Θ) with C from E7
    C: sp.Matrix
    identity_holds: bool


@functools.cache
def trace_form(n: int = 2, d: int = 2, z: int = 2, kind: str = "contrastive") -> TraceForm:
    """E7: for f(x) = Θ^T x the loss E1 (kind="contrastive") or E2 ("non_contrastive") equals Tr(Θ^T C Θ),

        C = −(1/2n) Σ_i [x_i (x_i⁺ − x_i⁻)^T + (x_i⁺ − x_i⁻) x_i^T]   (E2: x_i⁻ := 0).

    Every coordinate of every x_i, x_i⁺, x_i⁻ and every entry of Θ is a free symbol.
    """
    n, d, z = _sizes(n=n, d=d, z=z)
    check_choice(kind, "kind", {"contrastive", "non_contrastive"})
    theta = _matrix("theta", d, z)
    xs = [_matrix(f"x{i}", d, 1) for i in range(n)]
    ps = [_matrix(f"p{i}", d, 1) for i in range(n)]
    ns = [_matrix(f"q{i}", d, 1) if kind == "contrastive" else sp.zeros(d, 1) for i in range(n)]

    def f(x):
        return theta.T * x

    loss = -sp.Rational(1, n) * sum(((f(x).T * (f(p) - f(q)))[0, 0] for x, p, q in zip(xs, ps, ns)), sp.S.Zero)
    C = sp.zeros(d, d)
    for x, p, q in zip(xs, ps, ns):
        C += x * (p - q).T + (p - q) * x.T
    C = -C / (2 * n)
    trace = (theta.T * C * theta).trace()
    return TraceForm(sp.expand(loss), sp.expand(trace), C, sp.expand(loss - trace) == 0)


# ---------------------------------------------------------------------------------------------
# Thm 2


class FreeGradients(NamedTuple):
    r"""The free gradients of the trace form E7, $\nabla_V = 2 C V W W^\top$ and $\nabla_W = 2 V^\top C V W$ (E Thm 2), with whether sympy confirms them."""
    grad_V: sp.Matrix
    grad_W: sp.Matrix
    matches_2CVWWt: bool      # ∇_V L == 2 C V W W^T
    matches_2VtCVW: bool      # ∇_W L == 2 V^T C V W


@functools.cache
def free_gradients(d: int = 3, h: int = 2, z: int = 1) -> FreeGradients:
    """Differentiate L = Tr(W^T V^T C V W) entry by entry (C symmetric) and compare with the matrix formulas."""
    d, h, z = _sizes(d=d, h=h, z=z)
    C, V, W = symmetric_matrix("c", d), _matrix("v", d, h), _matrix("w", h, z)
    L = sp.expand((W.T * V.T * C * V * W).trace())
    gV = sp.Matrix(d, h, lambda i, j: sp.diff(L, V[i, j]))
    gW = sp.Matrix(h, z, lambda i, j: sp.diff(L, W[i, j]))
    return FreeGradients(gV, gW, _is_zero_matrix(gV - 2 * C * V * W * W.T), _is_zero_matrix(gW - 2 * V.T * C * V * W))


class ThetaFlow(NamedTuple):
    r"""The Θ flow of E Thm 2 (E9), $\dot\Theta = -2 (I - \Theta\Theta^\top) C\,\Theta$, derived for one regime of (d, h, z), with the identities sympy confirms."""
    d: int
    h: int
    z: int
    regime: str                    # "tall" (V^T V = I_h, h <= d) or "wide" (V V^T = I_d, h >= d)
    dtheta: sp.Matrix              # dΘ/dt = dV W + V dW from the Grassmannian gradient flows (generic V, W)
    residual_formula: sp.Matrix    # closed form of dΘ/dt − target, valid for *every* V, W
    identity_holds: bool           # dΘ/dt − target − residual_formula expands to 0 (generic V, W, C)
    constant: sp.Expr              # k solved from dΘ/dt = −k (I − ΘΘ^T) C Θ at an exact point with Θ^T Θ = I
    zero_on_constraint: bool       # residual = 0 at exact rational V, W on the constraint set
    zero_without_WtW: bool         # residual at W^T W ≠ I (V still constrained): False ⇒ W^T W = I is needed
    zero_without_VtV: bool         # residual at V unconstrained (W constrained)
    WWt_is_identity: bool          # at the constrained point used (False when h > z: W W^T = I not needed)


@functools.cache
def theta_flow(d: int = 3, h: int = 2, z: int = 1, regime: str = "tall") -> ThetaFlow:
    """Thm 2 (E9), *derived*: the flow of Θ = V W under the Grassmannian gradient flow of L = Tr(W^T V^T C V W).

    Premises: free gradients G_V = 2 C V W W^T, G_W = 2 V^T C V W (:func:`free_gradients`);
    dW/dt = −(I − W W^T) G_W and, for a tall V (regime="tall", V^T V = I_h), dV/dt = −(I − V V^T) G_V;
    for a wide V (regime="wide", V V^T = I_d) the projection acts on the other side, dV/dt = −G_V (I − V^T V).

    Derived (exactly, for generic V, W, symmetric C):

        tall:  dΘ/dt = −2 (I − ΘΘ^T) C Θ  −  2 (I − V V^T) C Θ (W^T W − I)
        wide:  dΘ/dt = −2 (I − ΘΘ^T) C Θ − 2 C Θ (I − Θ^T Θ)  −  2 C Θ (W^T W − I) + 2 (I − V V^T) C Θ

    So in the tall case E9 holds as soon as W^T W = I_z — V^T V = I is not used by the identity, and
    W W^T = I (h = z) is not needed; the constant is 2.  (For h = d, V is square, I − V V^T = 0 and even
    W^T W = I is not needed.)  In the wide case the flow is closed in Θ
    (:func:`dynamics.grassmann.ball_field`) and equals E9 when Θ^T Θ = I, e.g. for W(0) = V(0)^T Θ(0).
    ``constant`` solves for k in dΘ/dt = −k (I − ΘΘ^T) C Θ at an exact rational point of the constraint
    set with Θ^T Θ = I (symbolic C).  Polynomial arithmetic uses sympy's ``DomainMatrix`` over
    QQ[entries] (exact, and fast enough for the tests).
    """
    from sympy.polys.matrices import DomainMatrix

    d, h, z = _sizes(d=d, h=h, z=z)
    if regime not in ("tall", "wide"):
        raise ValueError(f"regime must be 'tall' or 'wide', got {regime!r}")
    if regime == "tall" and not z <= h <= d:
        raise ValueError(f"the tall regime needs z <= h <= d, got d={d}, h={h}, z={z}")
    if regime == "wide" and not (h >= d and z <= min(h, d)):
        raise ValueError(f"the wide regime needs h >= d and z <= d, got d={d}, h={h}, z={z}")
    Cs, Vs, Ws = symmetric_matrix("c", d), _matrix("v", d, h), _matrix("w", h, z)
    K = sp.QQ[tuple(sorted(Cs.free_symbols | Vs.free_symbols | Ws.free_symbols, key=str))]

    def dm(M):
        return DomainMatrix.from_Matrix(sp.Matrix(M)).convert_to(K)

    C = dm(Cs)
    Id, Ih, Iz = (DomainMatrix.eye(n, K) for n in (d, h, z))
    two = K.convert(2)

    def flow(V, W):
        GV, GW = C * V * W * W.transpose() * two, V.transpose() * C * V * W * two
        dV = -((Id - V * V.transpose()) * GV) if regime == "tall" else -(GV * (Ih - V.transpose() * V))
        dW = -((Ih - W * W.transpose()) * GW)
        return dV * W + V * dW

    def e9(V, W):
        T = V * W
        return -((Id - T * T.transpose()) * C * T * two)

    def target(V, W):
        T = V * W
        out = e9(V, W)
        if regime == "wide":
            out = out - C * T * (Iz - T.transpose() * T) * two
        return out

    def residual(V, W):
        T = V * W
        if regime == "tall":
            return -((Id - V * V.transpose()) * C * T * (W.transpose() * W - Iz) * two)
        return -(C * T * (W.transpose() * W - Iz) * two) + (Id - V * V.transpose()) * C * T * two

    V, W = dm(Vs), dm(Ws)
    dtheta = flow(V, W)
    holds = (dtheta - target(V, W) - residual(V, W)).is_zero_matrix

    # exact rational points: on the constraint set, and violating one constraint at a time
    Vc = dm(stiefel_point(d, h, seed=1))
    Wc = dm(stiefel_point(h, z, seed=2))
    W_bad = Wc * K.convert(sp.Rational(3, 2))
    V_bad = Vc + dm(sp.Matrix(d, h, lambda i, j: sp.Rational(i + 2 * j + 1, 7)))
    # a constrained point with Θ^T Θ = I (automatic when tall; W = V^T Q when wide) to solve for k
    Wk = Wc if regime == "tall" else Vc.transpose() * dm(stiefel_point(d, z, seed=3))
    A, B = flow(Vc, Wk).to_Matrix(), (-e9(Vc, Wk) * K.convert(sp.Rational(1, 2))).to_Matrix()
    nonzero = [i for i, b in enumerate(B) if sp.expand(b) != 0]
    constant = sp.nan
    if nonzero:
        cand = sp.cancel(-A[nonzero[0]] / B[nonzero[0]])
        if all(sp.expand(a + cand * b) == 0 for a, b in zip(A, B)):
            constant = cand

    def on_target(V_, W_):
        return (flow(V_, W_) - target(V_, W_)).is_zero_matrix

    return ThetaFlow(
        d, h, z, regime, dtheta.to_Matrix(), residual(V, W).to_Matrix(), holds, constant,
        on_target(Vc, Wc), on_target(Vc, W_bad), on_target(V_bad, Wc),
        (Wc * Wc.transpose() - Ih).is_zero_matrix,
    )


class Riccati(NamedTuple):
    r"""The Riccati form of E Thm 2 for the projector $P = \Theta\Theta^\top$, $\dot P = -2 (C P + P C) + 4 P C P$, with whether sympy confirms it."""
    dP: sp.Matrix                   # d(ΘΘ^T)/dt computed from E9 with generic Θ
    riccati: sp.Matrix              # −2 [(I − P) C P + P C (I − P)]
    identity_holds: bool            # dP == riccati for every Θ
    double_bracket_on_projectors: bool  # riccati == 2 [[P, C], P] at an exact projector P = ΘΘ^T, Θ^T Θ = I


@functools.cache
def riccati(d: int = 3, z: int = 2) -> Riccati:
    """P = ΘΘ^T under E9: dP/dt = Θ̇ Θ^T + Θ Θ̇^T = −2 [(I − P) C P + P C (I − P)] — for any Θ (no constraint
    used).  On projectors this equals the double bracket 2 [[P, C], P] (the form integrated numerically,
    :func:`dynamics.grassmann.riccati_field`); checked at an exact rational Θ with Θ^T Θ = I, symbolic C."""
    d, z = _sizes(d=d, z=z)
    if z > d:
        raise ValueError(f"z must be <= d (Θ is d x z with Θ^T Θ = I), got d = {d}, z = {z}")
    C, T = symmetric_matrix("c", d), _matrix("theta", d, z)
    Id = sp.eye(d)
    dT = -2 * (Id - T * T.T) * C * T
    P = T * T.T
    dP = sp.expand(dT * T.T + T * dT.T)
    ric = sp.expand(-2 * ((Id - P) * C * P + P * C * (Id - P)))
    Tc = stiefel_point(d, z, seed=4)
    Pc = Tc * Tc.T
    M = Pc * C - C * Pc
    bracket = _is_zero_matrix(-2 * ((Id - Pc) * C * Pc + Pc * C * (Id - Pc)) - 2 * (M * Pc - Pc * M))
    return Riccati(dP, ric, _is_zero_matrix(dP - ric), bracket)


# ---------------------------------------------------------------------------------------------
# Thm 3 (z = 1)


class Theorem3(NamedTuple):
    sphere_rhs: sp.Matrix          # E9 in C's eigenbasis, z = 1
    matches_E10: bool              # sphere_rhs == −2 z_i (λ_i − Σ λ_j z_j²)
    sphere_norm_rate: sp.Expr      # d‖z‖²/dt under E10 = −4 R (1 − ‖z‖²), R = Σ λ_j z_j²
    ball_rhs: sp.Matrix            # relaxed (wide-network) flow in the eigenbasis
    matches_ball_form: bool        # ball_rhs == −2 z_i [λ_i (2 − ‖z‖²) − R]
    ball_norm_rate: sp.Expr        # d‖z‖²/dt under the ball flow = −8 R (1 − ‖z‖²)
    smallest_rate: sp.Expr         # d(z_1²)/dt under E10 = −4 z_1² (λ_1 − R)
    rates_hold: bool               # the three rate formulas above verified


@functools.cache
def theorem3(d: int = 3) -> Theorem3:
    """E Thm 3 for z = 1, with C = diag(λ) (its eigenbasis): the coordinate ODEs and the Lyapunov rates.

    On the sphere the norm rate vanishes identically (‖z‖ = 1 is invariant, 0 is unreachable) while
    z_1² (smallest λ_1) never decreases; in the ball form the norm decreases whenever R > 0, e.g. C ≻ 0.
    """
    (d,) = _sizes(d=d)
    lam = sp.symbols(f"lambda_1:{d + 1}", real=True)
    zs = sp.Matrix(sp.symbols(f"z_1:{d + 1}", real=True))
    C = sp.diag(*lam)
    Id = sp.eye(d)
    R = sum(lam[i] * zs[i] ** 2 for i in range(d))
    n2 = sum(zs[i] ** 2 for i in range(d))
    sphere = sp.expand(-2 * (Id - zs * zs.T) * C * zs)
    e10 = sp.Matrix([-2 * zs[i] * (lam[i] - R) for i in range(d)])
    ball = sp.expand(sphere - 2 * C * zs * (1 - (zs.T * zs)[0, 0]))
    ball_form = sp.Matrix([-2 * zs[i] * (lam[i] * (2 - n2) - R) for i in range(d)])
    s_rate = sp.expand(2 * (zs.T * sphere)[0, 0])
    b_rate = sp.expand(2 * (zs.T * ball)[0, 0])
    z1_rate = sp.expand(2 * zs[0] * sphere[0])
    ok = (sp.expand(s_rate + 4 * R * (1 - n2)) == 0 and sp.expand(b_rate + 8 * R * (1 - n2)) == 0
          and sp.expand(z1_rate + 4 * zs[0] ** 2 * (lam[0] - R)) == 0)
    return Theorem3(sphere, _is_zero_matrix(sphere - e10), sp.factor(s_rate), ball,
                    _is_zero_matrix(ball - ball_form), sp.factor(b_rate), sp.factor(z1_rate), ok)


# ---------------------------------------------------------------------------------------------
# E[C]


def _gaussian_expectation(expr, normals):
    """E[expr] for a polynomial in independent N(0, 1) variables (moments E g = 0, E g² = 1, E g⁴ = 3, ...)."""
    poly = sp.Poly(sp.expand(expr), *normals)
    out = sp.S.Zero
    for powers, coeff in poly.terms():
        m = sp.S.One
        for p in powers:
            m *= 0 if p % 2 else sp.factorial2(p - 1)
        out += coeff * m
    return sp.expand(out)


class ExpectedC(NamedTuple):
    r"""The expectation of C (E7) under E's data model: $-\Sigma$ (contrastive E1) and $-(\Sigma + \mu\mu^\top)$ (non-contrastive E2)."""
    contrastive: sp.Matrix
    non_contrastive: sp.Matrix
    Sigma: sp.Matrix
    mu: sp.Matrix
    contrastive_is_minus_Sigma: bool
    non_contrastive_is_minus_second_moment: bool


@functools.cache
def expected_data_matrix(d: int = 2) -> ExpectedC:
    """E[C] for x = μ + L g, x⁺ = x + σ e, x⁻ = μ + L g' (g, e, g' independent standard normal vectors).

    Computes the expectation of each entry of one triplet's C (E7) by Gaussian moments: E[C] = −L L^T = −Σ
    for E1 (independent of μ and σ) and −(Σ + μμ^T) for E2.
    """
    (d,) = _sizes(d=d)
    Lm = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"l_{i}{j}", real=True) if j <= i else 0)
    mu = _matrix("mu", d, 1)
    sigma = sp.Symbol("sigma", positive=True)
    g, e, gn = _matrix("g", d, 1), _matrix("e", d, 1), _matrix("gn", d, 1)
    normals = list(g) + list(e) + list(gn)
    x = mu + Lm * g
    xp = x + sigma * e
    xn = mu + Lm * gn

    def expect(M):
        return M.applyfunc(lambda entry: _gaussian_expectation(entry, normals))

    Cc = expect(-(x * (xp - xn).T + (xp - xn) * x.T) / 2)
    Cn = expect(-(x * xp.T + xp * x.T) / 2)
    Sigma = Lm * Lm.T
    return ExpectedC(Cc, Cn, Sigma, mu, _is_zero_matrix(Cc + Sigma), _is_zero_matrix(Cn + Sigma + mu * mu.T))
