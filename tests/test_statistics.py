"""The keep fraction matches 1 - p.

Each test checks |kept - n (1 - p)| <= 6 sigma with sigma = sqrt(n p (1 - p)):
for a fixed seed the outcome is deterministic, and for a random seed the
false-positive probability of one check is below 2e-9 (normal tail at 6
sigma), so the whole file is below 1e-7.
"""
import numpy as np
import pytest

import cydrop


@pytest.mark.parametrize("p", [0.01, 0.1, 0.45, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5])
def test_keep_fraction(p, seed):
    n = 1 << 20
    kept = int(cydrop.keep_mask(n, p, seed, 12345).sum())
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) <= 6 * sigma


def test_kept_values_average_to_the_input():
    # E[dropout(x)] = x: the mean of 2**20 ones after dropout is 1 within 6 sigma
    n, p = 1 << 20, 0.3
    y = cydrop.dropout(np.ones(n), p, seed=4)
    sigma = np.sqrt(p / (1 - p) / n)
    assert abs(y.mean() - 1.0) <= 6 * sigma


def test_neighbouring_positions_are_independent():
    # P(both kept) for adjacent elements ~ (1 - p)^2 within 6 sigma
    n, p = 1 << 20, 0.5
    m = cydrop.keep_mask(n, p, 21, 0)
    both = np.mean(m[:-1] & m[1:])
    sigma = np.sqrt(0.25 * 0.75 / n)
    assert abs(both - 0.25) <= 6 * sigma
