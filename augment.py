"""Training-image augmentation: random translations and mirrors of a batch, and mirrors
of the whole training set in alternate epochs.

A mirrored or slightly shifted CIFAR-10 image shows the same class, so both add
variety to the training set at no cost in labels. Imports nothing from the project
(neither the models nor the Cython extension), so the fully connected nets use it too.
"""
import numpy as np


def translate_and_flip(X, rng, shift=2, flip=True):
    """A random translation by up to `shift` pixels (reflected edges) and, when flip, a
    random left-right mirror for each image of X (m, C, H, W); returns a new array."""
    m, _, H, W = X.shape
    padded = np.pad(X, ((0, 0), (0, 0), (shift, shift), (shift, shift)), mode="reflect")
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, m))
    flip = (rng.random(m) < 0.5) & flip
    out = np.empty_like(X)
    for i in range(m):
        crop = padded[i, :, dy[i]:dy[i] + H, dx[i]:dx[i] + W]
        out[i] = crop[:, :, ::-1] if flip[i] else crop
    return out


class AlternatingFlips:
    """Mirror each training image in every other epoch, not at random (airbench's
    alternating flip): every image is seen both ways in any two epochs in a row.

    Works on the training images X (n, C, H, W) in place: a random half (seeded) is
    mirrored at once. Give it to the Solver as before_epoch: at the start of every epoch
    (the first after a resume included) it mirrors all n images when the parity of
    solver.epoch (epochs done) changed, so during epoch e image i is mirrored iff it was
    at epoch 0 XOR e is odd, and a resumed run sees the images its checkpoint saw.
    """

    def __init__(self, X, seed=0):
        if np.ndim(X) != 4:
            raise ValueError(f"X must be images (n, C, H, W), got shape {np.shape(X)}")
        self.X, self.parity = X, 0
        start = np.random.default_rng(seed).random(len(X)) < 0.5
        X[start] = X[start][..., ::-1]

    def __call__(self, solver):
        """Mirror every image if the parity of solver.epoch changed since the last call."""
        parity = solver.epoch % 2
        if parity != self.parity:
            self.X[...] = self.X[..., ::-1]     # NumPy buffers the overlapping copy
            self.parity = parity


def mirrored_training_set(data, seed=0):
    """(data with a copy of its training images, the AlternatingFlips mirroring that copy):
    the caller's images stay as given. Pass the flips as the Solver's before_epoch."""
    data = dict(data, X_train=data["X_train"].copy())
    return data, AlternatingFlips(data["X_train"], seed=seed)
