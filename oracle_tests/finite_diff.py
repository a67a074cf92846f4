"""Central finite differences: an oracle for gradients that does not depend on torch.

Stable API (other test modules import it):

- `fd_jacobian(f, x)`: the full (f(x).size, x.size) Jacobian of f at x.
- `fd_jacobian_of_one_row(f, x)`: the same for x of one batch row and an f whose rows
  are independent, with all perturbed copies in one batch.
- `fd_directional(f, x, t, c)`: (f(x + eps t) - f(x - eps t)) / 2eps . c, a scalar.
- `check_vjp(f, x, c, grad, layer=..., quantity=...)`: assert that `grad`, an
  analytic vector-Jacobian product J^T c of f at x, matches finite differences, and
  record the comparison in the verification report (oracle "finite differences").
  Small inputs (x.size <= FULL_JACOBIAN_MAX_SIZE) are checked element by element
  against J^T c from the full Jacobian; larger ones through random projections
  <J^T c, t> against the directional difference along t, as JAX's check_grads does.

Everything runs in float64 with tolerances.py's FD_EPS, FD_RTOL and FD_ATOL. `f` maps a
float64 array of x's shape to a float64 array (or scalar) and must be a pure
function; it always receives a fresh copy, so it may not keep or modify x. Keep x
away from kinks (ReLU at 0, pooling ties) by more than FD_EPS: see KINK_MARGIN.
"""

from collections.abc import Callable

import numpy as np

from .tolerances import FD_ATOL, FD_EPS, FD_RTOL, FINITE_DIFFERENCES, compare

# 2 * 256 evaluations of f per full Jacobian: cheap for every layer at test sizes.
FULL_JACOBIAN_MAX_SIZE = 256
FD_TOL = {"rtol": FD_RTOL, "atol": FD_ATOL}
ORACLE = FINITE_DIFFERENCES

Function = Callable[[np.ndarray], np.ndarray]


def _eval(f: Function, x: np.ndarray) -> np.ndarray:
    y = np.asarray(f(x.copy()))
    if y.dtype != np.float64:
        raise TypeError(f"finite differences need a float64 function value, got {y.dtype}")
    return y.ravel()


def _check_float64(x: np.ndarray) -> None:
    if x.dtype != np.float64:
        raise TypeError(f"finite differences run in float64 only, got {x.dtype}")


def fd_jacobian(f: Function, x: np.ndarray, eps: float = FD_EPS) -> np.ndarray:
    """Central-difference Jacobian of f at x: shape (f(x).size, x.size), float64."""
    _check_float64(x)
    columns = []
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        step = step.reshape(x.shape)
        columns.append((_eval(f, x + step) - _eval(f, x - step)) / (2 * eps))
    return np.stack(columns, axis=1)  # (f(x).size, x.size)


def fd_jacobian_of_one_row(f: Function, x: np.ndarray, eps: float = FD_EPS) -> np.ndarray:
    """fd_jacobian of a function of a batch with one row, x of shape (1, ...), when f
    computes each row of its output from that row of its input alone (a network of
    conv, pool and dense layers): every perturbed copy of x goes through f in one
    batch, 2 calls instead of 2 * x.size. Shape (f(x).size, x.size), float64."""
    _check_float64(x)
    if x.shape[0] != 1:
        raise ValueError(f"fd_jacobian_of_one_row needs a batch of one row, got {x.shape}")
    steps = eps * np.eye(x.size).reshape(x.size, *x.shape[1:])  # (x.size, ...): one each
    plus, minus = _eval(f, x + steps), _eval(f, x - steps)  # (x.size * f's row size,)
    return ((plus - minus) / (2 * eps)).reshape(x.size, -1).T  # (f(x).size, x.size)


def fd_directional(
    f: Function, x: np.ndarray, t: np.ndarray, c: np.ndarray, eps: float = FD_EPS
) -> float:
    """(f(x + eps t) - f(x - eps t)) / 2eps . c: the derivative of <f, c> along t."""
    _check_float64(x)
    diff = (_eval(f, x + eps * t) - _eval(f, x - eps * t)) / (2 * eps)
    return float(diff @ np.asarray(c, dtype=np.float64).ravel())


def check_vjp(
    f: Function,
    x: np.ndarray,
    c: np.ndarray,
    grad: np.ndarray,
    *,
    layer: str,
    quantity: str,
    projections: int = 3,
    seed: int = 0,
) -> None:
    """Assert grad == J^T c (J the Jacobian of f at x) by central differences.

    c has f(x)'s shape (use a random c, never ones); grad has x's shape and is what
    the code under test returned for upstream gradient c. Below FULL_JACOBIAN_MAX_SIZE
    elements every entry of grad is compared; above, `projections` random Gaussian
    directions t (seeded by `seed`) compare <grad, t> with the directional difference.
    """
    grad = np.asarray(grad)
    assert grad.shape == x.shape, f"{layer} {quantity}: shape {grad.shape} vs x {x.shape}"
    if x.size <= FULL_JACOBIAN_MAX_SIZE:
        jac = fd_jacobian(f, x)  # (f(x).size, x.size)
        expected = (np.asarray(c, dtype=np.float64).ravel() @ jac).reshape(x.shape)
        compare(layer, quantity, grad, expected, oracle=ORACLE, tol=FD_TOL)
        return
    rng = np.random.default_rng(seed)
    ts = rng.standard_normal((projections, *x.shape))
    ours = np.array([np.vdot(grad, t) for t in ts])
    theirs = np.array([fd_directional(f, x, t, c) for t in ts])
    compare(layer, f"{quantity} (projected)", ours, theirs, oracle=ORACLE, tol=FD_TOL)
