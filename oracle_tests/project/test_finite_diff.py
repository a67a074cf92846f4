"""The batched finite-difference Jacobian is the one-call-per-column one, faster."""

import numpy as np
import pytest

from oracle_tests.finite_diff import fd_jacobian, fd_jacobian_of_one_row


def test_the_batched_jacobian_of_one_row_equals_the_column_by_column_one():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 12))

    def rows(x):  # each row of the output from its own input row
        return np.tanh(x.reshape(len(x), -1) @ w.T)

    x = rng.standard_normal((1, 3, 2, 2))
    batched, columns = fd_jacobian_of_one_row(rows, x), fd_jacobian(rows, x)
    assert batched.shape == columns.shape == (5, 12)
    np.testing.assert_allclose(batched, columns, rtol=0, atol=1e-9)
    # and it is the Jacobian: d tanh(Wx) / dx = diag(1 - tanh^2) W
    exact = (1 - rows(x)[0] ** 2)[:, None] * w
    np.testing.assert_allclose(batched, exact, rtol=1e-6, atol=1e-8)


def test_a_batch_of_two_rows_is_refused():
    with pytest.raises(ValueError, match="one row"):
        fd_jacobian_of_one_row(lambda x: x, np.zeros((2, 3)))
