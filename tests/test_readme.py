"""The README's tour runs as written (its Python block, top to bottom).

The other examples live in the site's pages (docs/guide/*.md), where
pytest runs them as doctests."""
import pathlib
import re

import numpy as np

import cydrop

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _tour_block():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Tour\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Tour section has one Python block"
    return blocks[0]


def test_tour_runs():
    threads = cydrop.get_num_threads()
    try:
        namespace = {}
        exec(compile(_tour_block(), str(README) + ":Tour", "exec"), namespace)
    finally:
        cydrop.set_num_threads(threads)
    # what the family lines claim
    imgs, cmask = namespace["imgs"], namespace["cmask"]
    assert cmask.shape == (8, 16, 1, 1)
    assert np.array_equal(
        cydrop.dropout2d(imgs, 0.2, seed=7),
        cydrop.dropout(imgs, 0.2, seed=7, noise_shape=(None, None, 1, 1)))
    assert namespace["y"].dtype == np.float16

