"""Every bad input and fault of the "fail loudly, never corrupt" issue, tried, with what it
gives now: a table that tests/test_fault_table.py checks and tests/FAULTS.md shows.

Each case is (section, what is tried, trial, words the outcome must hold). A trial takes
a temporary folder and either raises (the outcome is the error's type and message) or
returns a sentence saying what it measured (for the faults that must not raise: NaN
that propagates, a resume that gives the same bits). Regenerate the page with

    .venv/bin/python tests/fault_table.py > tests/FAULTS.md
"""
import glob
import os
import pickle
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data_utils  # noqa: E402
from cnn import ThreeLayerConvNet  # noqa: E402
from convnet import WhitenedConvNet, whitening_filters  # noqa: E402
from crafted import RunsCode  # noqa: E402
from fast_layers import (conv_backward_fast, conv_forward_fast,  # noqa: E402
                         conv_relu_pool_backward_fast, conv_relu_pool_forward_fast,
                         max_pool_backward_fast, max_pool_forward_fast)
from fc_net import FullyConnectedNet  # noqa: E402
from gradient_check import eval_numerical_gradient, rel_error  # noqa: E402
from layers import (batchnorm_forward, dropout_forward, leaky_relu_forward,  # noqa: E402
                    max_pool_backward_naive, max_pool_forward_naive, relu_backward, relu_forward,
                    softmax_loss)
from solver import Solver  # noqa: E402

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _images(seed=0, shape=(2, 3, 8, 8)):
    return np.random.default_rng(seed).standard_normal(shape)


def _fused(x, theta):
    return conv_relu_pool_forward_fast(x, theta, np.zeros(len(theta)), CONV, POOL)


def _unfused(x, theta):
    conv, _ = conv_forward_fast(x, theta, np.zeros(len(theta)), CONV)
    return max_pool_forward_fast(relu_forward(conv)[0], POOL)[0]


def nan_pixel_in_fused_window(tmp):
    x, theta = _images(), _images(1, (4, 3, 3, 3))
    x[0, 1, 3, 4] = np.nan
    fused, unfused = _fused(x, theta)[0], _unfused(x, theta)
    same = np.array_equal(np.isnan(fused), np.isnan(unfused))
    return (f"{int(np.isnan(fused).sum())} NaN outputs, "
            f"{'the same' if same else 'NOT the same'} as the unfused layers")


def nan_weights_in_fused_path(tmp):
    x, theta = _images(), _images(1, (4, 3, 3, 3))
    theta[2, 0, 1, 1] = np.nan
    out, cache = _fused(x, theta)
    dout = np.ones_like(out)
    _, dtheta, _ = conv_relu_pool_backward_fast(dout, cache)
    conv, conv_cache = conv_forward_fast(x, theta, np.zeros(4), CONV)
    relu, relu_cache = relu_forward(conv)
    _, pool_cache = max_pool_forward_fast(relu, POOL)
    d_relu = relu_backward(max_pool_backward_fast(dout, pool_cache), relu_cache)
    _, dtheta_unfused, _ = conv_backward_fast(d_relu, conv_cache)
    same = np.array_equal(out, _unfused(x, theta), equal_nan=True) and np.allclose(
        dtheta, dtheta_unfused, equal_nan=True)
    return (f"output NaN in {int(np.isnan(out[:, 2]).mean() * 100)}% of filter 2's positions; "
            f"output and dtheta {'the same' if same else 'NOT the same'} as the unfused layers")


def nan_weights_in_training(tmp):
    X = _images(3, (20, 3, 8, 8))
    data = {"X_train": X, "y_train": np.arange(20) % 10, "X_val": X[:5], "y_val": np.arange(5)}
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=5,
                              dtype=np.float64, seed=0)
    model.params["theta1"][0, 0, 0, 0] = np.nan
    Solver(model, data, batch_size=10, num_epochs=1, verbose=False, seed=0).train()


def nan_window_in_fast_pool_backward(tmp):
    x = _images()
    x[0, 0, 2, 3] = np.nan
    out, cache = max_pool_forward_fast(x, POOL)
    fast = max_pool_backward_fast(np.ones_like(out), cache)
    naive = max_pool_backward_naive(np.ones_like(out), max_pool_forward_naive(x, POOL)[1])
    return (f"gradient routed to the NaN: {fast[0, 0, 2, 3] == 1.0}; "
            f"same as the naive layer: {np.array_equal(fast, naive)}")


def _toy_data(n=40):
    rng = np.random.default_rng(0)
    y = rng.integers(2, size=n)
    X = rng.standard_normal((n, 6)) + 3 * y[:, None]
    return {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}


def _toy_solver(model=None, data=None, **kwargs):
    settings = dict(update_rule="sgd", optim_config={"learning_rate": 0.05}, batch_size=10,
                    num_epochs=2, verbose=False, seed=0)
    settings.update(kwargs)
    model = model or FullyConnectedNet([8], input_dim=6, num_classes=2, weight_scale=0.1,
                                       dtype=np.float64, seed=0)
    return Solver(model, data or _toy_data(), **settings)


def nan_pixel_in_training_data(tmp):
    data = _toy_data()
    data["X_train"][3, 2] = np.nan
    _toy_solver(data=data)


def adam_at_lr_1e3(tmp):
    _toy_solver(update_rule="adam", optim_config={"learning_rate": 1e3}, num_epochs=5).train()


def _fused_cache():
    x, theta = _images(), _images(1, (4, 3, 3, 3))
    return _fused(x, theta)


def fused_backward_larger_dout(tmp):
    out, cache = _fused_cache()
    conv_relu_pool_backward_fast(np.ones((out.shape[0] + 1,) + out.shape[1:]), cache)


def fused_backward_smaller_dout(tmp):
    out, cache = _fused_cache()
    conv_relu_pool_backward_fast(np.ones(out.shape)[:, :, :-1], cache)


def fused_backward_transposed_dout(tmp):
    out, cache = _fused_cache()
    conv_relu_pool_backward_fast(np.ones(out.shape).transpose(0, 1, 3, 2)[:, :3], cache)


def conv_backward_int_dout(tmp):
    out, cache = conv_forward_fast(_images(), _images(1, (4, 3, 3, 3)), np.zeros(4), CONV)
    conv_backward_fast(np.ones(out.shape, dtype=int), cache)


def pool_backward_wrong_dout(tmp):
    out, cache = max_pool_forward_fast(_images(), POOL)
    max_pool_backward_fast(np.ones(out.shape)[:1], cache)


def misspelled_optim_config(tmp):
    _toy_solver(optim_config={"lr": 10}).train()


def misspelled_conv_param(tmp):
    conv_forward_fast(_images(), _images(1, (4, 3, 3, 3)), np.zeros(4), {"padding": 1})


def misspelled_pool_param(tmp):
    max_pool_forward_fast(_images(), {"pool_size": 4})


def misspelled_dropout_param(tmp):
    dropout_forward(_images(), {"prob": 0.5, "mode": "train"})


def misspelled_bn_param(tmp):
    batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), {"mode": "train", "mom": 0.9})


def negative_learning_rate(tmp):
    _toy_solver(optim_config={"learning_rate": -0.1}).train()


def negative_lr_decay(tmp):
    _toy_solver(lr_decay=-0.5)


def int_leaky_relu(tmp):
    leaky_relu_forward(np.arange(-3, 3))


def int_theta_fast_conv(tmp):
    conv_forward_fast(_images(), np.ones((4, 3, 3, 3), dtype=int), np.zeros(4), CONV)


def int_dropout(tmp):
    dropout_forward(np.arange(8), {"p": 0.5, "mode": "train"})


def int_fc_net(tmp):
    FullyConnectedNet([3], input_dim=4, dtype=np.int64)


def rel_error_mismatched_shapes(tmp):
    rel_error(np.ones(3), np.ones(1))


def numerical_gradient_of_ints(tmp):
    eval_numerical_gradient(lambda v: float(np.sum(v ** 2)), np.arange(3))


def empty_softmax_batch(tmp):
    softmax_loss(np.zeros((0, 10)), np.zeros(0, dtype=int))


def empty_fc_batch(tmp):
    FullyConnectedNet([3], input_dim=4).loss(np.zeros((0, 4)))


def labels_of_another_length(tmp):
    FullyConnectedNet([3], input_dim=4).loss(np.zeros((5, 4)), np.zeros(4, dtype=int))


def _max_difference(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def _resume_difference(tmp, make_solver):
    straight = make_solver(tmp / "straight").train()
    make_solver(tmp / "half", num_epochs=1).train()
    resumed = make_solver(tmp / "half")
    resumed.resume()
    resumed.train()
    return _max_difference(straight.model.params, resumed.model.params)


def resume_with_flip_augmentation(tmp):
    X = _images(2, (24, 3, 12, 12))
    data = {"X_train": X, "y_train": np.arange(24) % 10, "X_val": X[:6],
            "y_val": np.arange(6)}

    def make(folder, num_epochs=2):
        net = WhitenedConvNet(whitening_filters(X), input_dim=(3, 12, 12), widths=(4, 4, 4),
                              dtype=np.float64, rng=0)
        return Solver(net, data, update_rule="sgd_nesterov", optim_config={"learning_rate": 0.1},
                      batch_size=8, num_epochs=num_epochs, verbose=False, seed=0,
                      checkpoint_name=str(folder / "c"))
    return f"largest parameter difference after resume: {_resume_difference(tmp, make)}"


def resume_with_dropout(tmp):
    def make(folder, num_epochs=2):
        net = FullyConnectedNet([16], input_dim=6, num_classes=2, dropout=0.5, weight_scale=0.3,
                                dtype=np.float64, rng=0)
        return _toy_solver(model=net, num_epochs=num_epochs, checkpoint_name=str(folder / "c"))
    return f"largest parameter difference after resume: {_resume_difference(tmp, make)}"


def _three_checkpoints(tmp):
    solver = _toy_solver(num_epochs=3, checkpoint_name=str(tmp / "c"), keep_last=3).train()
    return solver, Solver.latest_checkpoint(solver.checkpoint_prefix)


def corrupted_latest_checkpoint(tmp):
    _, latest = _three_checkpoints(tmp)
    with open(latest, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    _toy_solver(num_epochs=3, checkpoint_name=str(tmp / "c")).load_checkpoint(latest)


def resume_past_a_corrupted_checkpoint(tmp):
    _, latest = _three_checkpoints(tmp)
    with open(latest, "wb") as f:
        f.write(b"\x00")
    solver = _toy_solver(num_epochs=3, checkpoint_name=str(tmp / "c"))
    return f"resume() went on from epoch {solver.resume()} of 3"


def checkpoint_of_another_shape(tmp):
    _, latest = _three_checkpoints(tmp)
    other = FullyConnectedNet([9], input_dim=6, num_classes=2, dtype=np.float64, seed=0)
    _toy_solver(model=other, num_epochs=3, checkpoint_name=str(tmp / "c")).load_checkpoint(latest)


def seeded_checkpoint_into_unseeded_solver(tmp):
    _, latest = _three_checkpoints(tmp)
    _toy_solver(num_epochs=3, seed=None, checkpoint_name=str(tmp / "c")).load_checkpoint(latest)


def two_runs_share_a_name(tmp):
    import solver as solver_module
    names = []
    real = solver_module.tempfile.mkstemp

    def spy(**kwargs):
        fd, name = real(**kwargs)
        names.append(name)
        return fd, name
    solver_module.tempfile.mkstemp = spy
    try:
        for _ in range(2):
            _toy_solver(num_epochs=1, checkpoint_name=str(tmp / "c")).train()
    finally:
        solver_module.tempfile.mkstemp = real
    return (f"{len(names)} writes through {len(set(names))} distinct temporary files, "
            f"{len(glob.glob(str(tmp / '*.tmp')))} left behind")


def twenty_epochs_of_checkpoints(tmp):
    solver = _toy_solver(num_epochs=20, checkpoint_name=str(tmp / "c"))
    solver.train()
    kept = sorted(glob.glob(f"{solver.checkpoint_prefix}_epoch_*.npz"))
    return f"{len(kept)} checkpoints kept (keep_last=2): epochs " + ", ".join(
        re.search(r"_epoch_(\d+)", p).group(1) for p in kept)


def crafted_checkpoint(tmp):
    marker = tmp / "ran"
    np.savez(tmp / "x_epoch_1.npz", state=np.array([RunsCode(str(marker))], dtype=object))
    try:
        _toy_solver().load_checkpoint(str(tmp / "x_epoch_1.npz"))
    finally:
        assert not marker.exists(), "the crafted checkpoint ran code"


def old_pickle_checkpoint(tmp):
    with open(tmp / "c_epoch_1.pkl", "wb") as f:
        pickle.dump({"epoch": 1}, f)
    _toy_solver().load_checkpoint(str(tmp / "c_epoch_1.pkl"))


def _batch_file(tmp, payload):
    path = tmp / "data_batch_1"
    path.write_bytes(payload)
    return str(path)


def truncated_batch(tmp):
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [1, 2]}
    data_utils.load_CIFAR_batch(_batch_file(tmp, pickle.dumps(batch)[:-40]))


def batch_without_data(tmp):
    data_utils.load_CIFAR_batch(_batch_file(tmp, pickle.dumps({"labels": [1]})))


def text_file_as_batch(tmp):
    data_utils.load_CIFAR_batch(_batch_file(tmp, b"this is a text file\n"))


def labels_outside_0_9(tmp):
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [1, 10]}
    data_utils.load_CIFAR_batch(_batch_file(tmp, pickle.dumps(batch)))


def crafted_batch(tmp):
    marker = tmp / "ran"
    try:
        data_utils.load_CIFAR_batch(_batch_file(
            tmp, pickle.dumps({"data": RunsCode(str(marker)), "labels": []})))
    finally:
        assert not marker.exists(), "the crafted batch ran code"


def no_training_images(tmp):
    data_utils.get_CIFAR10_data(num_training=0)


S, R, C, D = ("silent wrong answers", "exact resume", "checkpoints", "data")
CASES = [
    (S, "one NaN pixel in a fused conv-ReLU-pool window", nan_pixel_in_fused_window,
     "the same as the unfused"),
    (S, "a NaN weight in the fused conv-ReLU-pool", nan_weights_in_fused_path,
     "100% of filter 2's positions; output and dtheta the same as the unfused"),
    (S, "a NaN weight in ThreeLayerConvNet during training", nan_weights_in_training,
     "loss became nan at iteration 1 .*\\['theta1'\\] hold NaN or Inf before any update"),
    (S, "fast max-pool backward of a window holding NaN", nan_window_in_fast_pool_backward,
     "NaN: True; same as the naive layer: True"),
    (S, "training images holding a NaN", nan_pixel_in_training_data, "1 NaN or infinite"),
    (S, "Adam at learning rate 1e3 (diverges without NaN)", adam_at_lr_1e3,
     "FloatingPointError"),
    (S, "fused backward, dout larger than the output", fused_backward_larger_dout,
     "shape mismatch"),
    (S, "fused backward, dout smaller than the output", fused_backward_smaller_dout,
     "shape mismatch"),
    (S, "fused backward, dout transposed", fused_backward_transposed_dout, "shape mismatch"),
    (S, "fast conv backward, integer dout", conv_backward_int_dout, "float"),
    (S, "fast max-pool backward, dout of another shape", pool_backward_wrong_dout,
     "shape mismatch"),
    (S, "optim_config={'lr': 10}", misspelled_optim_config, "'lr'"),
    (S, "conv_param={'padding': 1}", misspelled_conv_param, "'padding'"),
    (S, "pool_param={'pool_size': 4}", misspelled_pool_param, "'pool_size'"),
    (S, "dropout_param={'prob': 0.5, ...}", misspelled_dropout_param, "'prob'"),
    (S, "bn_param={'mom': 0.9, ...}", misspelled_bn_param, "'mom'"),
    (S, "negative learning_rate", negative_learning_rate, "learning_rate"),
    (S, "negative lr_decay", negative_lr_decay, "lr_decay must be a non-negative"),
    (S, "leaky ReLU of integers", int_leaky_relu, "x must hold floats"),
    (S, "fast conv with integer weights", int_theta_fast_conv, "theta must hold floats"),
    (S, "dropout of integers", int_dropout, "x must hold floats"),
    (S, "FullyConnectedNet(dtype=np.int64)", int_fc_net, "floating type"),
    (S, "rel_error of shapes (3,) and (1,)", rel_error_mismatched_shapes, "shape"),
    (S, "eval_numerical_gradient at an integer array", numerical_gradient_of_ints, "float"),
    (S, "softmax loss of an empty batch", empty_softmax_batch, "at least one example"),
    (S, "FullyConnectedNet.loss of an empty batch", empty_fc_batch, "at least one example"),
    (S, "5 images with 4 labels", labels_of_another_length, "y must be \\(5,\\)"),
    (R, "resume with translate/flip augmentation (WhitenedConvNet)",
     resume_with_flip_augmentation, "difference after resume: 0.0$"),
    (R, "resume with dropout drawing its masks", resume_with_dropout,
     "difference after resume: 0.0$"),
    (C, "latest checkpoint corrupted", corrupted_latest_checkpoint,
     "c-\\w+_epoch_3.npz is corrupted"),
    (C, "resume() when the latest checkpoint is broken", resume_past_a_corrupted_checkpoint,
     "from epoch 2 of 3"),
    (C, "checkpoint of another model shape", checkpoint_of_another_shape, "other settings"),
    (C, "seeded run's checkpoint into an unseeded Solver", seeded_checkpoint_into_unseeded_solver,
     "other settings"),
    (C, "two runs with the same name write checkpoints", two_runs_share_a_name,
     "(\\d+) writes through \\1 distinct temporary files, 0 left behind"),
    (C, "20 epochs with checkpoints", twenty_epochs_of_checkpoints, "2 checkpoints kept"),
    (C, "checkpoint crafted to run code on load", crafted_checkpoint,
     "not a readable checkpoint"),
    (C, "pickle checkpoint of the older version", old_pickle_checkpoint,
     "python solver.py convert"),
    (D, "truncated batch file", truncated_batch, "not a readable"),
    (D, "batch pickle without 'data'", batch_without_data, "'data' and 'labels'"),
    (D, "text file as a batch", text_file_as_batch, "not a readable"),
    (D, "label 10 in a batch", labels_outside_0_9, "labels must be in 0..9"),
    (D, "batch pickle crafted to run code", crafted_batch, "refusing"),
    (D, "get_CIFAR10_data(num_training=0)", no_training_images, "num_training must be positive"),
]


def outcome(trial):
    """What the trial gives now: 'ErrorType: message' or the sentence it returns, with
    temporary folders shown as <tmp>."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            with np.errstate(all="ignore"):
                text = trial(Path(folder))
        except Exception as error:            # the point: which error, and what it says
            text = f"{type(error).__name__}: {error}"
        return text.replace(os.path.realpath(folder), "<tmp>").replace(folder, "<tmp>")


def table(outcomes):
    """The markdown table of every case and its outcome (outcomes in the order of CASES)."""
    lines = ["| | bad input or fault | what it gives now |", "|---|---|---|"]
    for number, ((section, what, _, _), text) in enumerate(zip(CASES, outcomes), start=1):
        text = re.sub(r"\s+", " ", text).replace("|", "\\|")
        lines.append(f"| {number} | {section}: {what} | {text} |")
    return "\n".join(lines)


def page(outcomes):
    """tests/FAULTS.md for the outcomes of CASES."""
    errors = sum(bool(re.match(r"\w+(Error|Exception): ", text)) for text in outcomes)
    return (f"# Bad inputs and faults, and what they give now\n\n"
            f"Generated by `tests/fault_table.py` and checked by `tests/test_fault_table.py`: "
            f"{len(CASES)} cases, {errors} of them refused with an error that names the "
            f"problem, the other {len(CASES) - errors} measured (NaN that propagates as in the "
            f"unfused layers, resumes that give the same bits, checkpoints kept or skipped).\n\n"
            f"{table(outcomes)}\n")


if __name__ == "__main__":
    print(page([outcome(trial) for _, _, trial, _ in CASES]), end="")
