"""ThreeLayerConvNet: loss sanity, exact gradients, dtype, validation, training on CIFAR-10."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cnn import ThreeLayerConvNet
from gradient_check import eval_numerical_gradient, rel_error

PARAM_NAMES = {"theta1", "theta1_0", "theta2", "theta2_0", "theta3", "theta3_0"}


def _batch(m, input_dim=(3, 32, 32), num_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m,) + input_dim), rng.integers(num_classes, size=m)


def test_parameters_have_documented_names_shapes_and_init():
    model = ThreeLayerConvNet(input_dim=(3, 8, 10), num_filters=4, filter_size=5, hidden_dim=6,
                              num_classes=7, weight_scale=0.5, seed=0)
    shapes = {name: p.shape for name, p in model.params.items()}
    assert shapes == {"theta1": (4, 3, 5, 5), "theta1_0": (4,),
                      "theta2": (4 * 4 * 5, 6), "theta2_0": (6,),
                      "theta3": (6, 7), "theta3_0": (7,)}
    assert all(not model.params[f"theta{l}_0"].any() for l in (1, 2, 3))
    assert 0.4 < model.params["theta2"].std() < 0.6
    assert model.conv_param == {"stride": 1, "pad": 2}


def test_initial_loss_is_about_log_num_classes_and_reg_raises_it():
    X, y = _batch(20)
    loss, _ = ThreeLayerConvNet(seed=0).loss(X, y)
    assert abs(loss - np.log(10)) < 0.01
    loss_reg, _ = ThreeLayerConvNet(seed=0, reg=1.0).loss(X, y)
    assert loss_reg > loss + 1e-3


def test_scores_without_labels():
    X, _ = _batch(3)
    scores = ThreeLayerConvNet(seed=0).loss(X)
    assert scores.shape == (3, 10) and scores.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=5,
                              dtype=dtype, seed=0)
    X, y = _batch(4, (3, 8, 8))             # float64 images are cast to the model's dtype
    loss, grads = model.loss(X, y)
    assert np.asarray(loss).dtype == dtype
    assert set(grads) == PARAM_NAMES
    assert all(g.dtype == dtype and g.shape == model.params[k].shape for k, g in grads.items())


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradients_match_centred_differences(reg):
    model = ThreeLayerConvNet(input_dim=(3, 8, 6), num_filters=3, filter_size=3, hidden_dim=7,
                              num_classes=4, weight_scale=0.3, reg=reg, dtype=np.float64, seed=0)
    X, y = _batch(2, (3, 8, 6), num_classes=4, seed=2)
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param)
        assert rel_error(grads[name], numeric) <= 1e-6, name


@pytest.mark.parametrize("kwargs, match", [
    ({"filter_size": 4}, "filter_size must be odd"),
    ({"filter_size": 0}, "filter_size"),
    ({"filter_size": 3.0}, "filter_size"),
    ({"input_dim": (3, 31, 32)}, "even H and W"),
    ({"input_dim": (3, 32)}, r"\(C, H, W\)"),
    ({"input_dim": (0, 32, 32)}, "C"),
    ({"num_filters": 0}, "num_filters"),
    ({"hidden_dim": -1}, "hidden_dim"),
    ({"num_classes": 0}, "num_classes"),
    ({"weight_scale": 0}, "weight_scale"),
    ({"reg": -0.1}, "reg"),
    ({"dtype": np.int32}, "dtype"),
    ({"weight_scale": float("nan")}, "weight_scale must be a finite number > 0"),
    ({"reg": float("nan")}, "reg must be a finite number >= 0"),
    ({"hidden_dim": 0}, "hidden_dim must be a positive integer, got 0"),
])
def test_invalid_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThreeLayerConvNet(**kwargs)


def test_invalid_inputs_raise():
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, filter_size=3, hidden_dim=5)
    with pytest.raises(ValueError, match="shape mismatch"):
        model.loss(np.zeros((2, 3, 8, 10)))
    with pytest.raises(ValueError, match="labels"):
        model.loss(np.zeros((2, 3, 8, 8)), np.array([0, 10]))


def _solver(model, data, **kwargs):
    from solver import Solver
    return Solver(model, data, update_rule="adam", verbose=False, seed=0, **kwargs)


def test_overfits_100_training_images(cifar10):
    small = {"X_train": cifar10["X_train"][:100], "y_train": cifar10["y_train"][:100],
             "X_val": cifar10["X_val"][:100], "y_val": cifar10["y_val"][:100]}
    model = ThreeLayerConvNet(weight_scale=1e-2, seed=0)
    solver = _solver(model, small, optim_config={"learning_rate": 1e-3}, batch_size=50,
                     num_epochs=15)
    solver.train()
    assert solver.train_acc_history[-1] >= 0.9
    assert solver.val_acc_history[-1] < 0.5      # memorised, not learned


@pytest.mark.slow
def test_one_epoch_on_cifar10_beats_40_percent_training_accuracy(cifar10):
    model = ThreeLayerConvNet(weight_scale=1e-3, hidden_dim=500, reg=1e-3, seed=0)
    solver = _solver(model, cifar10, optim_config={"learning_rate": 1e-3}, batch_size=50,
                     num_epochs=1, num_val_samples=1000)
    # One BLAS thread: on a shared machine, threaded OpenBLAS stalls at every small
    # product (10x slower here); single-threaded, the epoch takes about a minute.
    with threadpool_limits(limits=1, user_api="blas"):
        solver.train()
    train_acc = solver.check_accuracy(cifar10["X_train"], cifar10["y_train"], num_samples=2000)
    assert train_acc > 0.40, f"training accuracy {train_acc:.3f} after one epoch"
