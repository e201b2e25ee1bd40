"""
A torch model on cydrop's dropout: thread counts, layouts and keys
==================================================================

`cydrop.torch.convert_dropout` replaces every ``torch.nn.Dropout`` of a
model (and ``Dropout1d/2d/3d``, ``AlphaDropout``, ``FeatureAlphaDropout``) by
cydrop's counterpart, in place: same ``p``, same mode, same (empty)
``state_dict``.  cydrop's mask for a call is a documented function of a
64-bit key drawn from torch's generator and of each element's position in
C order -- the Philox4x32-10 stream of `cydrop.keep_mask` -- so it does not
depend on the thread count, on the tensor's memory layout or on the machine,
and it can be recomputed without torch.

This example runs a small model with torch's dropout and with cydrop's, on
1, 2 and 4 threads, checks which results are bit-identical, and draws the
masks.  It needs the ``torch`` extra (``pip install "cydrop[torch]"``).
"""

# %%
# A model and its converted copy
# ------------------------------
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch

import cydrop
import cydrop.torch

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.5),
    torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.5),
    torch.nn.Linear(1024, 10),
)
converted = cydrop.torch.convert_dropout(copy.deepcopy(model))
print(converted)
print("layer 2 is now a", type(converted[2]).__module__ + "." + type(converted[2]).__name__)
x = torch.randn(256, 256)

# %%
# One training step, on several thread counts
# -------------------------------------------
# Each run seeds torch's generator alike, then does a forward and a
# backward.  The masks are read off the dropout layers: an element was kept
# where the output is not zero.  Where the ReLU before already gave zero,
# the output says nothing about the mask; those elements are marked as
# undecided and left out of the comparison with `cydrop.keep_mask` below.
# ``torch.set_num_threads`` is the only thread setting: cydrop's kernels
# follow torch's count on each call (`cydrop.get_num_threads` prints it).  A
# dropout call here has 256 x 1024 elements, well above the size from which
# cydrop's kernels split a call across threads.


def training_step(net, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1234)
    masks, decided = [], []

    def record(layer, args, out):
        masks.append((out != 0).numpy().copy())
        decided.append((args[0] != 0).numpy().copy())

    hooks = [m.register_forward_hook(record) for m in net if isinstance(m, torch.nn.Dropout)]
    net.zero_grad()
    out = net(x)
    out.square().mean().backward()
    for h in hooks:
        h.remove()
    grad = net[0].weight.grad.clone()
    return {"out": out.detach(), "grad": grad, "masks": masks, "decided": decided,
            "cydrop threads": cydrop.get_num_threads()}


thread_counts = (1, 2, 4)
runs = {name: {n: training_step(net, n) for n in thread_counts}
        for name, net in (("torch.nn.Dropout", model), ("cydrop.torch.Dropout", converted))}
torch.set_num_threads(2)

for name, by_threads in runs.items():
    first = by_threads[1]
    for n in thread_counts[1:]:
        other = by_threads[n]
        same = (torch.equal(first["out"], other["out"])
                and torch.equal(first["grad"], other["grad"])
                and all(np.array_equal(a, b) for a, b in zip(first["masks"], other["masks"])))
        note = f" (cydrop's kernels on {other['cydrop threads']})" if "cydrop" in name else ""
        print(f"{name:21s} {n} threads vs 1{note}: "
              f"outputs, gradients and masks bit-identical: {same}")

# %%
# With cydrop's layers, the outputs, gradients and masks are the same bits
# on 1, 2 and 4 threads.  On the torch these pages were built with, torch's
# own CPU dropout gave the same masks on every thread count too (the lines
# above say whether it did in this run): for a model like this one, the
# difference lies less in the thread count than in what the mask is a
# function of.  torch's is whatever its CPU kernel draws from its generator
# -- torch does not promise the same results across releases or platforms
# -- while cydrop's is a documented stream, below.

# %%
# The mask is a documented function of the key
# ---------------------------------------------
# Without ``seed=``, each call of cydrop's layer draws its 64-bit key from
# torch's generator as ``torch.randint(0, 2**32, (2,))`` (low half first) and
# uses stream position 0.  Seeding torch as the run did and drawing two keys
# gives the two layers' masks, computed here by `cydrop.keep_mask` alone,
# without the model, torch's kernels or any thread.
torch.manual_seed(1234)
keys = []
for _ in range(2):
    low, high = torch.randint(0, 2**32, (2,), dtype=torch.int64).tolist()
    keys.append(low | high << 32)
recomputed = [cydrop.keep_mask((256, 1024), 0.5, seed=key, offset=0) for key in keys]
observed = runs["cydrop.torch.Dropout"][1]["masks"]
decided = runs["cydrop.torch.Dropout"][1]["decided"]
for k, (want, got, where) in enumerate(zip(recomputed, observed, decided)):
    print(f"dropout layer {k}: key {keys[k]:#018x}; keep_mask equals the run's mask on all "
          f"{where.sum()} decided elements: {np.array_equal(want[where], got[where])}")

# %%
# The same values in another memory layout
# ----------------------------------------
# A tensor holding the same values in column-major order (as a transposed
# view, or a ``channels_last`` activation, holds them) gets the same mask
# from cydrop: the mask follows the elements' logical positions.  torch's
# CPU kernel fills its mask in memory order (the column-major mask is the
# transpose of the mask torch draws for a contiguous 48 x 64 tensor), so
# its mask moves with the layout.
values = torch.ones(64, 48)
column_major = values.t().contiguous().t()
for name, layer in (("torch.nn.Dropout", torch.nn.Dropout(0.5)),
                    ("cydrop.torch.Dropout", cydrop.torch.Dropout(0.5))):
    torch.manual_seed(0)
    a = layer(values) != 0
    torch.manual_seed(0)
    b = layer(column_major) != 0
    print(f"{name:21s} same mask for a column-major copy: {torch.equal(a, b)}")

# %%
# The figure shows a corner of the first layer's mask on one thread, the
# mask `cydrop.keep_mask` computes for the same key, and where the two
# differ (nowhere).  Kept elements are light.
fig, axes = plt.subplots(1, 3, figsize=(9, 2.7), layout="constrained")
corner = (slice(0, 32), slice(0, 64))
run_mask = np.where(decided[0], observed[0], 0.5)      # undecided: grey
differs = decided[0] & (observed[0] != recomputed[0])
for ax, image, title in zip(axes, (run_mask[corner], recomputed[0][corner], differs[corner]),
                            ("the run's mask (1 thread;\nundecided grey)",
                             "cydrop.keep_mask(key)", "differences")):
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
