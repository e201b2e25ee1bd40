"""How (seed, offset) maps a call's elements to stream words and Philox blocks.

Drawn by the documentation build (matplotlib's plot directive) from
cydrop.stream_words and cydrop.keep_mask: a (2, 5) float32 array at
offset 6, seed 1234, p = 0.5.
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

import cydrop

SEED, OFFSET, P = 1234, 6, 0.5
SHAPE = (2, 5)
N = SHAPE[0] * SHAPE[1]
FIRST_WORD = 4 * (OFFSET // 4)                   # draw whole blocks
LAST_WORD = 4 * ((OFFSET + N + 3) // 4)
words = cydrop.stream_words(SEED, FIRST_WORD, LAST_WORD - FIRST_WORD)
threshold = int(np.floor(P * 2**32))
mask = cydrop.keep_mask(SHAPE, P, SEED, OFFSET)
assert np.array_equal(mask.ravel(), words[OFFSET - FIRST_WORD:][:N] >= threshold)

fig, ax = plt.subplots(figsize=(9.5, 3.9))
ax.set_xlim(-0.6, LAST_WORD - FIRST_WORD + 0.2)
ax.set_ylim(-3.2, 2.5)
ax.axis("off")
keep_c, drop_c, idle_c = "#4C9F70", "#D1495B", "#DDDDDD"

# the Philox blocks: counter b = j // 4 gives words 4b .. 4b + 3
for b in range(FIRST_WORD // 4, LAST_WORD // 4):
    x0 = 4 * b - FIRST_WORD
    ax.add_patch(Rectangle((x0 - 0.45, 1.35), 3.9, 0.7, fill=False, lw=1.5, ec="#333"))
    ax.text(x0 + 1.5, 2.25, f"block {b}: counter ({b}, 0, 0, 0)", ha="center",
            fontsize=8.5, family="monospace")
# the words
for k, w in enumerate(words):
    j = FIRST_WORD + k
    used = OFFSET <= j < OFFSET + N
    colour = (keep_c if w >= threshold else drop_c) if used else idle_c
    ax.add_patch(Rectangle((k - 0.4, 0.45), 0.8, 0.7, color=colour, alpha=0.85))
    ax.text(k, 0.8, f"{w >> 24:02x}..", ha="center", va="center", fontsize=7.5,
            family="monospace")
    ax.text(k, 1.55, f"j={j}", ha="center", va="center", fontsize=7.5)
# the array's elements, C order, element i at word offset + i
for i in range(N):
    r, c = divmod(i, SHAPE[1])
    xk = OFFSET - FIRST_WORD + i
    colour = keep_c if mask.flat[i] else drop_c
    ax.add_patch(Rectangle((xk - 0.4, -1.6), 0.8, 0.7, color=colour, alpha=0.85))
    ax.text(xk, -1.25, f"[{r},{c}]", ha="center", va="center", fontsize=7.5)
    ax.add_patch(FancyArrowPatch((xk, -0.88), (xk, 0.43), arrowstyle="-|>",
                                 mutation_scale=8, color="#555"))
ax.text(-0.55, 0.8, "words", ha="right", va="center", fontsize=9)
ax.text(-0.55, -1.25, "x", ha="right", va="center", fontsize=9)
ax.text(-0.5, -2.05,
        f"x of shape {SHAPE}, seed={SEED}, offset={OFFSET}, p={P}: element i (C order) uses "
        f"word offset + i (shown: its top byte);\nkept (green) iff the word is >= "
        f"floor(p * 2**32) = {threshold:#x}.  Grey: words of the same blocks this call does "
        f"not use.", fontsize=8.5, va="top")
fig.tight_layout()
