"""airbench94 (Keller Jordan's cifar10-airbench, the legacy 94.01% recipe) in PyTorch on the
CPU: float32, channels-last, trained on this project's CIFAR-10 copy. A benchmark to hold the
project's NumPy net against; it imports nothing from the project, and torch only inside
functions (so --help runs without it). Run it with the benchmark venv (`make bench-torch`):

    .venv-torch/bin/python benchmarks/airbench94_torch.py --out runs/airbench94.json
    .venv-torch/bin/python benchmarks/airbench94_torch.py --val 5000     (validation each epoch)
    .venv-torch/bin/python benchmarks/airbench94_torch.py --quick        (smoke test, < 1 min)

The recipe, as published (its numbers; the code here is written afresh):
  net    whiten: frozen 2x2 conv 3 -> 24 (no padding, 32 -> 31) with a bias, then GELU;
         three blocks conv3x3 - maxpool2 - BN - GELU - conv3x3 - BN - GELU of widths
         64, 256, 256 (31 -> 15 -> 7 -> 3); global max pool; linear 256 -> 10 without bias;
         logits * 1/9. BN: scale frozen at 1, eps 1e-12, running stats
         r <- 0.6 r + 0.4 batch (PyTorch momentum 0.4). Convs start at the Dirac init (the
         first C_in filters pass their channel through).
  whiten filters  v_k / sqrt(lam_k + 5e-4) and their negatives, from the eigenpairs of the
         (uncentred) covariance of the 2x2 patches of the first 5,000 normalised training
         images; the filters stay frozen, their bias trains for the first 3 epochs only.
  opt    Nesterov SGD, momentum 0.85, batch 1024 (last partial batch dropped), the
         label-smoothed (0.2) cross-entropy summed over the batch. With
         s = 1024 * (1 + 1 / (1 - momentum)): lr = 11.5 / s, decay wd = 0.0153 * batch / s
         per step (SGD's weight_decay = wd / lr, so each step shrinks weights by lr_t / lr * wd);
         BN biases at 64 x lr with the same decay per step; 9.9 epochs.
  lr     x 0.2 -> 1.0 linearly over the first 23% of the steps, then -> 0.07 at the end.
  data   per-channel mean / std of the training images; each epoch a random 32 x 32 crop
         of the 36 x 36 reflect-padded image; flips: a random half of the images mirrored
         once before training, and every image mirrored in odd epochs relative to that.
  lookahead  every 5 steps, avg <- a avg + (1 - a) net, net <- avg, over the parameters and
         BN running stats, a = 0.95^5 (step / total)^3; the net ends as the average.
  test   one view, and level 2: 1/4 each the image and its mirror, 1/8 each the mirrored
         pair of both shifted one pixel up-left and down-right (reflect padding).
"""
import argparse
import json
import math
import os
import pickle
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The course copy beside the repository (as the Makefile finds it), else the project's own.
DEFAULT_DATA = next((d for d in (os.path.join(REPO, "..", "shared", "datasets", "cifar-10-batches-py"),
                                 os.path.join(REPO, "datasets", "cifar-10-batches-py"))
                     if os.path.isdir(d)), os.path.join(REPO, "datasets", "cifar-10-batches-py"))
WIDTHS = (64, 256, 256)
HEAD_SCALE = 1 / 9
MOMENTUM = 0.85
LR, WEIGHT_DECAY, BIAS_LR_SCALE = 11.5, 0.0153, 64.0
SMOOTHING = 0.2
WHITEN_BIAS_EPOCHS = 3
WHITENING_IMAGES = 5000
TRANSLATE = 2
LOOKAHEAD_EVERY = 5

# What a CIFAR-10 batch pickle names: NumPy's array rebuilding and the bytes codec; nothing
# else (a crafted file could name os.system) is built.
ALLOWED_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch never names {module}.{name}")
        return super().find_class(module, name)


def read_batches(folder, names):
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of the pickled batches names."""
    images, labels = [], []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            batch = BatchUnpickler(f, encoding="latin1").load()
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch["labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_splits(folder, n_train, n_val, n_test):
    """{'train', 'val', 'test'}: (images uint8, labels); val is the last n_val of the 50,000
    training images, train the first n_train of the rest (all when None), test the first
    n_test of the test batch."""
    X, y = read_batches(folder, [f"data_batch_{i}" for i in range(1, 6)])
    X_test, y_test = read_batches(folder, ["test_batch"])
    rest = len(X) - n_val
    n_train = rest if n_train is None else n_train
    if not 0 < n_train <= rest:
        raise ValueError(f"--train {n_train} with --val {n_val}: at most {rest} images are left")
    return {"train": (X[:n_train], y[:n_train]), "val": (X[rest:], y[rest:]),
            "test": (X_test[:n_test], y_test[:n_test])}


def whitening_filters(images, eps=5e-4, chunk=500):
    """Frozen first-layer filters (24, 3, 2, 2) from normalised images (n, 3, H, W).

    The 2x2 patches p (12 numbers) have second moment S = E[p p^T] = V diag(lam) V^T; the
    filters v_k / sqrt(lam_k + eps), largest lam first, make the responses uncorrelated
    with unit variance. Each comes with its negative so that GELU sees both signs.
    """
    S, count = np.zeros((12, 12)), 0
    for start in range(0, len(images), chunk):
        windows = np.lib.stride_tricks.sliding_window_view(images[start:start + chunk], (2, 2), axis=(2, 3))
        patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, 12).astype(np.float64)
        S += patches.T @ patches
        count += len(patches)
    lam, V = np.linalg.eigh(S / count)
    filters = (V / np.sqrt(lam + eps)).T[::-1].reshape(12, 3, 2, 2)
    return np.concatenate([filters, -filters]).astype(np.float32)


def dirac_(conv):
    """Sets conv's first C_in filters to identities: filter k copies input channel k."""
    import torch
    with torch.no_grad():
        k = conv.weight.shape[1]
        conv.weight[:k] = 0
        conv.weight[range(k), range(k), 1, 1] = 1


def make_net(whiten, bn_momentum):
    """The airbench94 net (without its head scale, applied by logits) on whiten (24, 3, 2, 2)."""
    import torch
    from torch import nn

    def block(c_in, c_out):
        convs = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                 nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)]
        norms = [nn.BatchNorm2d(c_out, eps=1e-12, momentum=bn_momentum) for _ in convs]
        for conv in convs:
            dirac_(conv)
        for norm in norms:
            norm.weight.requires_grad_(False)
        return [convs[0], nn.MaxPool2d(2), norms[0], nn.GELU(), convs[1], norms[1], nn.GELU()]

    first = nn.Conv2d(3, len(whiten), 2, bias=True)
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(whiten))
        first.bias.zero_()
    first.weight.requires_grad_(False)
    channels = (len(whiten),) + WIDTHS
    layers = [first, nn.GELU()]
    for c_in, c_out in zip(channels, channels[1:]):
        layers += block(c_in, c_out)
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(WIDTHS[-1], 10, bias=False)]
    return nn.Sequential(*layers).to(memory_format=torch.channels_last)


def logits(net, x):
    """Scores (m, 10) of images x (m, 3, 32, 32): the net's output times HEAD_SCALE."""
    return net(x) * HEAD_SCALE


def make_optimizer(net, batch_size):
    """Nesterov SGD in airbench's decoupled units (see the module docstring): BN biases at
    BIAS_LR_SCALE x lr, every trained tensor decayed by the same wd per step at full lr."""
    import torch
    kilostep_scale = 1024 * (1 + 1 / (1 - MOMENTUM))
    lr, lr_bias = LR / kilostep_scale, LR / kilostep_scale * BIAS_LR_SCALE
    wd = WEIGHT_DECAY * batch_size / kilostep_scale
    bn_biases = [m.bias for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    others = [p for p in net.parameters()
              if p.requires_grad and all(p is not b for b in bn_biases)]
    return torch.optim.SGD([dict(params=bn_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                            dict(params=others, lr=lr, weight_decay=wd / lr)],
                           momentum=MOMENTUM, nesterov=True)


def lr_factor(step, total, warmup=0.23, start=0.2, end=0.07):
    """The schedule's multiplier of the lr at step: start -> 1 linearly over the first
    int(warmup * total) steps, then 1 -> end at step total."""
    rise = int(warmup * total)
    if step < rise:
        return start + (1 - start) * step / rise
    return 1 + (end - 1) * (step - rise) / (total - rise)


def lookahead_(net, average, decay):
    """average <- decay * average + (1 - decay) * net, then net <- average, for every float
    tensor of the net's state (parameters and BN running stats; frozen ones do not move)."""
    import torch
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if value.is_floating_point():
                average[name].lerp_(value, 1 - decay)
                value.copy_(average[name])


def crop(padded, top, left, size):
    """Image b's size x size window at (top[b], left[b]) of padded (B, C, H, W) -> (B, C, size, size)."""
    import torch
    B, C, _, W = padded.shape
    span = torch.arange(size)
    rows = (top[:, None] + span)[:, None, :, None].expand(B, C, size, W)
    cols = (left[:, None] + span)[:, None, None, :].expand(B, C, size, size)
    return padded.gather(2, rows).gather(3, cols)


def epoch_batches(padded, labels, epoch, batch_size):
    """(x, y) batches of one epoch, shuffled, the partial last batch dropped: random crops
    of the padded (n, 3, 36, 36) images, all mirrored in odd epochs; x channels-last."""
    import torch
    order = torch.randperm(len(padded))
    size = padded.shape[-1] - 2 * TRANSLATE
    for start in range(0, len(order) - batch_size + 1, batch_size):
        idx = order[start:start + batch_size]
        top, left = torch.randint(0, 2 * TRANSLATE + 1, (2, batch_size))
        x = crop(padded[idx], top, left, size)
        if epoch % 2:
            x = x.flip(-1)
        yield x.contiguous(memory_format=torch.channels_last), labels[idx]


def views_logits(net, x):
    """Level-2 test-time views: 1/2 the mirrored pair of x, 1/4 each the mirrored pair of x
    moved one pixel down-right and up-left (reflect padding)."""
    import torch.nn.functional as F

    def mirrored(v):
        return 0.5 * logits(net, v) + 0.5 * logits(net, v.flip(-1))
    H, W = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return (0.5 * mirrored(x) + 0.25 * mirrored(padded[..., :H, :W])
            + 0.25 * mirrored(padded[..., 2:, 2:]))


def accuracy(net, images, labels, views=False, batch_size=1000):
    """Fraction of images (n, 3, 32, 32) normalised whose argmax score is the label, in
    eval mode (running BN stats), one view or the level-2 views."""
    import torch
    net.eval()
    score = views_logits if views else logits
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].contiguous(memory_format=torch.channels_last)
            correct += (score(net, x).argmax(1) == labels[start:start + batch_size]).sum().item()
    net.train()
    return correct / len(images)


def to_tensors(splits):
    """Float tensors standardised by the training images' per-channel mean and std, and labels."""
    import torch
    X = splits["train"][0]
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64)[:, None, None]
    std = X.std(axis=(0, 2, 3), dtype=np.float64)[:, None, None]
    return {k: (torch.from_numpy(((x - mean) / std).astype(np.float32)), torch.from_numpy(y))
            for k, (x, y) in splits.items()}


def train(args, data, after_epoch):
    """Trains the recipe on data (to_tensors' dict); after_epoch(net, record) after every
    epoch, record {epoch, steps, seconds (of training), train_loss (of its last batch, per
    image)}. Returns the trained net (the lookahead average)."""
    import torch
    import torch.nn.functional as F
    X, y = data["train"]
    net = make_net(whitening_filters(X[:WHITENING_IMAGES].numpy()), args.bn_momentum)
    optimizer = make_optimizer(net, args.batch)
    total = math.ceil(len(X) // args.batch * args.epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total))
    average = {k: v.clone() for k, v in net.state_dict().items()}
    flipped = torch.where(torch.rand(len(X))[:, None, None, None] < 0.5, X.flip(-1), X)
    padded = F.pad(flipped, (TRANSLATE,) * 4, mode="reflect")
    step = 0
    for epoch in range(math.ceil(args.epochs)):
        net[0].bias.requires_grad_(epoch < WHITEN_BIAS_EPOCHS)
        start = time.perf_counter()
        for x, labels in epoch_batches(padded, y, epoch, args.batch):
            loss = F.cross_entropy(logits(net, x), labels, label_smoothing=SMOOTHING, reduction="sum")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % LOOKAHEAD_EVERY == 0:
                lookahead_(net, average, 0.95 ** 5 * (step / total) ** 3)
            if step >= total:
                lookahead_(net, average, 1.0)
                break
        after_epoch(net, {"epoch": epoch + 1, "steps": step, "seconds": time.perf_counter() - start,
                          "train_loss": loss.item() / args.batch})
    return net


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("CIFAR10_DIR") or DEFAULT_DATA,
                        help="folder of the python-pickle CIFAR-10 batches (default $CIFAR10_DIR, else %(default)s)")
    parser.add_argument("--epochs", type=float, default=9.9, help="epochs, the last one fractional (default 9.9)")
    parser.add_argument("--train", type=int, default=None,
                        help="train on the first N training images (default: all not held out)")
    parser.add_argument("--val", type=int, default=0,
                        help="hold out the last N training images, scored after every epoch (e.g. 5000)")
    parser.add_argument("--test", type=int, default=10000, help="score the first N test images (default 10000)")
    parser.add_argument("--batch", type=int, default=1024, help="batch size (default 1024)")
    parser.add_argument("--bn-momentum", type=float, default=0.4,
                        help="BN running-stat momentum m in PyTorch's convention, r <- (1 - m) r + m batch "
                             "(default 0.4: the published 0.6 is the weight of r)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", help="write the per-epoch record and final accuracies to this JSON file")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 2,000 training images, 1 epoch, batch 200, 1,000 test images")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.epochs, args.batch, args.test = 2000, 1.0, 200, 1000
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    wall = time.perf_counter()
    data = to_tensors(load_splits(args.data, args.train, args.val, args.test))
    print(f"airbench94 in torch {torch.__version__}, {args.threads} threads: train {len(data['train'][0])}, "
          f"val {len(data['val'][0])}, test {len(data['test'][0])} images, batch {args.batch}, "
          f"{args.epochs} epochs", flush=True)
    history = []

    def after_epoch(net, record):
        if args.val:
            record["val_acc"] = accuracy(net, *data["val"])
        record["test_acc"] = accuracy(net, *data["test"])
        history.append(record)
        val = f"  val {record['val_acc']:.4f}" if args.val else ""
        print(f"epoch {record['epoch']:2d}  step {record['steps']:4d}  train {record['seconds']:6.1f} s  "
              f"loss {record['train_loss']:.4f}{val}  test {record['test_acc']:.4f}", flush=True)

    net = train(args, data, after_epoch)
    result = {"recipe": "airbench94 (legacy), torch CPU float32 channels-last", "torch": torch.__version__,
              "args": dict(vars(args), data=os.path.relpath(args.data, REPO)),  # no machine paths
              "per_epoch": history,
              "train_seconds": sum(r["seconds"] for r in history),
              "test_acc": history[-1]["test_acc"], "test_acc_views": accuracy(net, *data["test"], views=True)}
    result["wall_seconds"] = time.perf_counter() - wall
    print(f"test {result['test_acc']:.4f} one view, {result['test_acc_views']:.4f} with the level-2 views; "
          f"training {result['train_seconds']:.0f} s, wall {result['wall_seconds']:.0f} s", flush=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
