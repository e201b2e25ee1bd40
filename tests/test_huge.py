"""More than 2**31 elements (opt-in: CYDROP_TEST_HUGE=1; needs ~9 GB of RAM
and about a minute on 2 cores).

An in-place forward on 2**31 + 5 float32 ones: element i must use stream word
offset + i all the way, so the kept/dropped pattern is compared with
``cydrop.keep_mask`` (which computes the mask for a range alone, at its own
offset) at the head, across 2**31 (where a 32-bit index would wrap) and at
the tail, and the whole array's kept fraction is checked statistically.
"""
import os

import numpy as np
import pytest

import cydrop

pytestmark = pytest.mark.skipif(os.environ.get("CYDROP_TEST_HUGE") != "1",
                                reason="huge-array test: set CYDROP_TEST_HUGE=1 "
                                       "(needs ~9 GB of RAM)")

N = 2**31 + 5
P = 0.25
SEED = 0x5EED_0000_0000_CAFE
OFFSET = 3            # not on a block boundary: element i uses word 3 + i
WINDOW = 4096


def _check_range(x, start, stop, scale):
    got = x[start:stop]
    want = cydrop.keep_mask(stop - start, P, SEED, OFFSET + start)
    np.testing.assert_array_equal(got != 0, want, err_msg=f"elements {start}:{stop}")
    assert np.all(got[want] == scale)


def test_inplace_forward_past_2_31_elements():
    x = np.ones(N, dtype=np.float32)
    scale = np.float32(1 / (1 - P))
    assert cydrop.dropout(x, P, inplace=True, seed=SEED, offset=OFFSET) is x
    _check_range(x, 0, WINDOW, scale)                                 # head
    _check_range(x, 2**31 - WINDOW, 2**31 + 5, scale)                 # across 2**31
    _check_range(x, 2**32 // 3, 2**32 // 3 + WINDOW, scale)           # middle
    _check_range(x, N - WINDOW, N, scale)                             # tail
    kept = np.count_nonzero(x)
    sd = (N * P * (1 - P)) ** 0.5
    assert abs(kept - N * (1 - P)) < 6 * sd, (kept, N * (1 - P))
    # the same mask as packed bits, regenerated, past 2**31 bits
    del x
    bits = cydrop.keep_mask(N, P, SEED, OFFSET, packed=True)
    assert bits.shape == ((N + 7) // 8,)
    tail = np.unpackbits(bits[-(WINDOW // 8 + 1):], bitorder="little")
    tail = tail[:len(tail) - (8 * ((N + 7) // 8) - N)][-WINDOW:]
    np.testing.assert_array_equal(tail.view(bool),
                                  cydrop.keep_mask(WINDOW, P, SEED, OFFSET + N - WINDOW))
