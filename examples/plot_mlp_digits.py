"""
Dropout against overfitting: a NumPy network on the digits
===========================================================

The experiment of the dropout paper and of the NumPy tutorials, small enough
to run in seconds: a multilayer perceptron written in plain NumPy (three
hidden layers of 100 ReLU units, softmax output, backpropagation by hand),
trained on so few images that it learns them by heart.  It is trained twice
from the same initial weights, on the same mini-batches: once as it is, once
with a `cydrop.Dropout` layer in front of each weight layer.  The figure
shows the training and test accuracy after every epoch for both runs.

The data is scikit-learn's ``load_digits`` (1797 images of 8x8 pixels, ten
classes; it ships with scikit-learn, nothing is downloaded).  150 images
train the network; the other 1647 test it.
"""

# %%
# The data
# --------
# Pixels are scaled to [0, 1].  One fixed permutation chooses the training
# images; every random choice below comes from a fixed seed, so a run
# repeats itself exactly on one machine (another machine's BLAS may round
# the matrix products differently, and the last digits of the accuracies
# with it).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import cydrop

# The products here are small (20 x 100 by 100 x 100): BLAS threads cost
# more than they save, and many times more on a machine busy with other work.
threadpool_limits(1, user_api="blas")

SEED = 3
N_TRAIN = 150
EPOCHS = 300
BATCH = 20
LEARNING_RATE = 0.1
HIDDEN = (100, 100, 100)
P_INPUT, P_HIDDEN = 0.2, 0.2     # dropout rates: input pixels, hidden units

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
rng = np.random.default_rng(SEED)
order = rng.permutation(len(X))
train, test = order[:N_TRAIN], order[N_TRAIN:]
print(f"{len(train)} training images, {len(test)} test images, "
      f"{X.shape[1]} pixels each, {len(np.unique(y))} classes")

# %%
# The network
# -----------
# Weights are drawn once (He initialisation) and copied into each run.  A
# layer ``k`` computes ``z = h @ W + b`` from its input ``h``; the hidden
# layers apply ReLU.  With dropout, ``h`` is the previous layer's output
# passed through a `cydrop.Dropout` layer: in train mode it zeroes each
# element with probability ``p`` and scales the rest by ``1 / (1 - p)``; in
# eval mode it is the identity.  Each `cydrop.Dropout` keeps its forward's
# mask (one bit per element) and its ``backward`` applies that mask to the
# gradient.  ``rng=`` gives each layer a seed of its own: its masks are
# those of the Philox stream for that seed, the same on any thread count.
sizes = (X.shape[1],) + HIDDEN + (10,)
initial = [(rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)).astype(np.float32),
            np.zeros(n_out, np.float32))
           for n_in, n_out in zip(sizes[:-1], sizes[1:])]


class MLP:
    """A ReLU network with softmax output, trained by plain SGD; with
    ``dropout``, a `cydrop.Dropout` before each weight layer."""

    def __init__(self, dropout):
        self.params = [(w.copy(), b.copy()) for w, b in initial]
        self.drops = None
        if dropout:
            self.drops = [cydrop.Dropout(P_INPUT if k == 0 else P_HIDDEN, rng=SEED + k)
                          for k in range(len(self.params))]

    def forward(self, x, training):
        """Logits for ``x``; keeps what ``backward`` needs."""
        self.inputs, self.pre = [], []
        for k, (w, b) in enumerate(self.params):
            if self.drops is not None:
                x = self.drops[k].train(training)(x)
            self.inputs.append(x)
            z = x @ w + b
            self.pre.append(z)
            x = np.maximum(z, 0) if k < len(self.params) - 1 else z
        return x

    def backward(self, g):
        """Gradient step from ``g``, the loss's gradient at the logits."""
        for k in range(len(self.params) - 1, -1, -1):
            w, b = self.params[k]
            grad_w, grad_b = self.inputs[k].T @ g, g.sum(axis=0)
            if k > 0:
                g = g @ w.T
                if self.drops is not None:
                    g = self.drops[k].backward(g)    # the mask of the last forward
                g = g * (self.pre[k - 1] > 0)
            w -= LEARNING_RATE * grad_w
            b -= LEARNING_RATE * grad_b

    def accuracy(self, idx):
        return float(np.mean(self.forward(X[idx], training=False).argmax(axis=1) == y[idx]))


def softmax_cross_entropy_grad(logits, labels):
    """Gradient of the mean cross-entropy with respect to the logits."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    g = e / e.sum(axis=1, keepdims=True)
    g[np.arange(len(labels)), labels] -= 1.0
    return g / len(labels)


# %%
# Training
# --------
# Both runs see the same mini-batches in the same order (one generator,
# seeded alike, for each run).  After each epoch the accuracy on the whole
# training set and on the test set is measured in eval mode.
def fit(dropout):
    net = MLP(dropout)
    batches = np.random.default_rng(SEED + 1)
    history = np.empty((EPOCHS, 2))
    for epoch in range(EPOCHS):
        shuffled = batches.permutation(train)
        for start in range(0, N_TRAIN, BATCH):
            idx = shuffled[start:start + BATCH]
            logits = net.forward(X[idx], training=True)
            net.backward(softmax_cross_entropy_grad(logits, y[idx]))
        history[epoch] = net.accuracy(train), net.accuracy(test)
    return history


runs = {"without dropout": fit(dropout=False), "with cydrop.Dropout": fit(dropout=True)}

# %%
# The gap
# -------
# The figures are the means over the last 20 epochs, which smooths the
# epoch-to-epoch wobble of the test accuracy.
print(f"{'':22s} {'train':>6s} {'test':>6s} {'gap':>6s}")
for name, history in runs.items():
    tr_acc, te_acc = history[-20:].mean(axis=0)
    print(f"{name:22s} {tr_acc:6.3f} {te_acc:6.3f} {tr_acc - te_acc:6.3f}")

# %%
# Without dropout the network reaches 100 % on its 150 training images within
# a few dozen epochs and stays there; the test accuracy stops improving at
# the same time: the gap printed above is what holds for these 150 images
# only.  With dropout it still learns the training set (nearly) perfectly --
# three layers of 100 units have ample room for 150 images -- but it gets
# there later, and its test accuracy ends higher, so the gap is narrower.
#
# On this small, easy data set the effect is modest, and of the order of what
# the choice of training images changes.  ``SEED`` picks the training images,
# the initial weights and the masks; in our runs (one machine, seeds 0 to 15,
# test accuracy over the last 20 epochs) dropout came out ahead on 15 of the
# 16 seeds, by 0.1 to 3.7 points (median 1.3), and 0.5 points behind on
# seed 0; the gap narrowed by about the same amounts (on average from 0.092
# to 0.079).  ``SEED = 3`` (1.4 points) is close to that median.  The table
# printed above is this run's own measurement.
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
colors = {"without dropout": "tab:red", "with cydrop.Dropout": "tab:blue"}
epochs = np.arange(1, EPOCHS + 1)
for name, history in runs.items():
    ax.plot(epochs, history[:, 0], color=colors[name], linestyle="--", label=f"train, {name}")
    ax.plot(epochs, history[:, 1], color=colors[name], label=f"test, {name}")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.set_ylim(0.7, 1.005)
ax.set_title(f"{len(HIDDEN)} x {HIDDEN[0]} ReLU units, {N_TRAIN} training digits\n"
             f"dropout: p={P_INPUT} on the pixels, p={P_HIDDEN} on the hidden units",
             fontsize="medium")
ax.legend(loc="lower right")
ax.grid(alpha=0.3)
plt.show()
