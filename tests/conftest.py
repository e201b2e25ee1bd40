import numpy as np
import pytest
from hypothesis import settings

# Shared machines: no per-example deadline; a fixed number of examples.
settings.register_profile("cydrop", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("cydrop")

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param
