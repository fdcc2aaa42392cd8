"""convnet.WhitenedConvNet (the 4.4.7 fast net) and its pieces: whitening filters,
test-time views, gradients, buffers, argument checks, learning (its augmentation: test_augment)."""
import numpy as np
import pytest

import convnet
from convnet import WhitenedConvNet, whitening_filters
from gradient_check import eval_numerical_gradient
from layers import conv_forward_naive

rng = np.random.default_rng(0)


def images(m=6, C=3, H=12, W=12, seed=0):
    r = np.random.default_rng(seed)
    # correlated channels and neighbouring pixels, as in real images
    base = r.standard_normal((m, 1, H + 1, W + 1))
    x = base[:, :, :-1, :-1] + 0.5 * base[:, :, 1:, 1:] + 0.3 * r.standard_normal((m, C, H, W))
    return x


def test_whitening_filters_decorrelate_patches():
    x = images(m=40, H=12, W=12)
    filters = whitening_filters(x, eps=0.0)
    assert filters.shape == (24, 3, 2, 2)
    np.testing.assert_allclose(filters[12:], -filters[:12])
    out, _ = conv_forward_naive(x, filters[:12], np.zeros(12), {"stride": 1, "pad": 0})
    responses = out.transpose(0, 2, 3, 1).reshape(-1, 12)
    np.testing.assert_allclose(np.cov(responses.T, bias=True), np.eye(12), atol=1e-8)


def small_net(**kwargs):
    x = images(m=10)
    settings = dict(input_dim=(3, 12, 12), widths=(4, 5, 6), augment=False, tta="none",
                    dtype=np.float64, seed=0)
    return WhitenedConvNet(whitening_filters(x), **{**settings, **kwargs})


@pytest.mark.parametrize("engine", ["nhwc", "nchw"])
def test_gradients_match_centred_differences(engine):
    net = small_net(engine=engine)
    r = np.random.default_rng(3)
    for name in net.params:      # break the Dirac init's ties and zeros
        net.params[name] = net.params[name] + 0.3 * r.standard_normal(net.params[name].shape)
    X, y = images(m=4, seed=5), np.array([1, 2, 3, 4])
    _, grads = net.loss(X, y)
    assert set(grads) == set(net.params)
    for name, value in net.params.items():
        numeric = eval_numerical_gradient(lambda _: net.loss(X, y)[0], value, verbose=False)
        # Norm-wise: with BN and the 1/9 head many entries are ~1e-6, where an
        # elementwise relative error only measures the difference quotient's round-off.
        error = np.linalg.norm(numeric - grads[name]) / (np.linalg.norm(numeric)
                                                          + np.linalg.norm(grads[name]))
        assert error <= 1e-7, (name, error)


def perturbed_pair(dtype, seed=4):
    """The same net on the two engines, its BN scales and shifts moved off their init."""
    nets = [small_net(engine=engine, dtype=dtype) for engine in ("nchw", "nhwc")]
    r = np.random.default_rng(seed)
    for name in nets[0].params:
        step = (0.3 * r.standard_normal(nets[0].params[name].shape)).astype(dtype)
        for net in nets:
            net.params[name] = net.params[name] + step
    return nets


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_the_two_engines_compute_the_same_loss_gradients_and_statistics(dtype, tol):
    """tol is relative to each gradient's largest entry: the engines sum in other orders."""
    nchw, nhwc = perturbed_pair(dtype)
    X, y = images(m=5, seed=6).astype(dtype), np.array([0, 3, 5, 7, 9])
    (loss_a, grads_a), (loss_b, grads_b) = nchw.loss(X, y), nhwc.loss(X, y)
    assert abs(loss_a - loss_b) <= tol * abs(loss_a)
    for name in grads_a:
        assert grads_b[name].dtype == dtype and grads_b[name].shape == grads_a[name].shape
        scale = np.abs(grads_a[name]).max()
        assert np.abs(grads_a[name] - grads_b[name]).max() <= tol * scale, name
    for l in nchw.bn_params:
        for stat in ("running_mean", "running_var"):
            np.testing.assert_allclose(nhwc.bn_params[l][stat], nchw.bn_params[l][stat],
                                       rtol=tol, atol=tol)
    np.testing.assert_allclose(nhwc.loss(X), nchw.loss(X), rtol=tol, atol=tol)


def test_initial_loss_is_about_ln_10_and_dtype_is_kept():
    net = small_net(dtype=np.float32)
    X, y = images(m=8).astype(np.float32), np.arange(8)
    loss, grads = net.loss(X, y)
    assert loss == pytest.approx(np.log(10), abs=0.2)
    assert net.loss(X).dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


def test_dirac_init_passes_the_first_channels_through():
    theta = small_net().params["theta2"]          # 4 -> 4 channels
    np.testing.assert_array_equal(theta[:, :, 1, 1], np.eye(4))
    assert not theta[:, :, 0].any()


def test_buffers_hold_whitening_and_running_statistics_and_load_back():
    net = small_net()
    X, y = images(m=8), np.arange(8)
    net.loss(X, y)
    saved = {k: v.copy() for k, v in net.buffers.items()}
    assert {"whiten", "running_mean1", "running_var6"} <= set(saved)
    scores = net.loss(X)
    net.loss(X * 3 + 1, y)                         # moves the running statistics
    assert not np.allclose(net.loss(X), scores)
    net.load_buffers(saved)
    np.testing.assert_allclose(net.loss(X), scores)


def test_test_time_views_average_the_mirror():
    net = small_net(tta="flip")
    X = images(m=3)
    plain = small_net(tta="none")
    plain.params = net.params
    expected = 0.5 * plain.loss(X) + 0.5 * plain.loss(X[:, :, :, ::-1])
    np.testing.assert_allclose(net.loss(X), expected)
    assert sum(w for w, _ in convnet.TTA_VIEWS["flip_translate"](X)) == pytest.approx(1.0)


def test_the_eight_neighbour_views_average_every_one_pixel_move_and_its_mirror():
    X = images(m=2)
    views = convnet.TTA_VIEWS["flip_shift8"](X)
    assert len(views) == 18 and sum(w for w, _ in views) == pytest.approx(1.0)
    assert views[0][0] == views[1][0] == 0.25
    assert views[0][1] is X and np.array_equal(views[1][1], X[:, :, :, ::-1])
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    moved = {(dy, dx): padded[:, :, 1 - dy:13 - dy, 1 - dx:13 - dx]        # 12 x 12 images
             for dy, dx in convnet.NEIGHBOURS}
    for (w, view), (w_mirror, mirror), move in zip(views[2::2], views[3::2], convnet.NEIGHBOURS):
        assert w == w_mirror == pytest.approx(1 / 32)
        np.testing.assert_array_equal(view, moved[move])
        np.testing.assert_array_equal(mirror, moved[move][:, :, :, ::-1])
    assert len(set(convnet.NEIGHBOURS)) == 8


@pytest.mark.parametrize("kwargs, message", [
    ({"widths": (4, 5)}, "three widths"),
    ({"input_dim": (3, 8, 12)}, "H, W >= 9"),
    ({"tta": "many"}, "tta must be one of"),
    ({"rng": 1}, "not both"),
    ({"num_classes": 0}, "num_classes"),
    ({"smoothing": 1.0}, "smoothing"),
    ({"head_scale": float("nan")}, "head_scale"),
    ({"head_scale": 0}, "head_scale"),
    ({"bn_momentum": -0.1}, "bn_momentum"),
    ({"dtype": np.int32}, "dtype"),
    ({"widths": (4, 0, 6)}, "widths"),
    ({"engine": "gpu"}, "engine must be 'nhwc' or 'nchw'"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_net(**kwargs)


def test_bad_whitening_filters_and_images_are_refused():
    with pytest.raises(ValueError, match="whiten must be"):
        WhitenedConvNet(np.zeros((4, 3, 3, 3)), input_dim=(3, 12, 12))
    with pytest.raises(ValueError, match="shape mismatch"):
        small_net().loss(np.zeros((2, 3, 16, 16)))


def test_a_killed_run_resumes_to_the_same_bits(tmp_path):
    """Augmentation draws, BN running statistics and the optimizer all live in the checkpoint."""
    from solver import Solver
    r = np.random.default_rng(7)
    data = {"X_train": images(m=24, seed=1), "y_train": r.integers(10, size=24),
            "X_val": images(m=6, seed=2), "y_val": r.integers(10, size=6)}

    def solver(epochs, name):
        net = small_net(augment=True, tta="flip", rng=3, seed=None)
        return Solver(net, data, update_rule="sgd_nesterov",
                      optim_config={"learning_rate": 0.05, "weight_decay": 0.01},
                      num_epochs=epochs, batch_size=8, verbose=False, seed=0,
                      checkpoint_name=str(tmp_path / name))
    straight = solver(3, "a").train()
    first = solver(3, "b")
    first.num_epochs = 1
    first.train()
    resumed = solver(3, "b")
    assert resumed.resume() == 1
    resumed.train()
    assert resumed.loss_history == straight.loss_history
    for key, value in straight.model.buffers.items():
        np.testing.assert_array_equal(resumed.model.buffers[key], value)


def test_the_channels_last_engine_with_winograd_equals_the_course_layers(monkeypatch):
    """At widths of 64 the 15x15 and 7x7 3x3 convs run by Winograd (fast_nhwc's rule); in
    float64 the net's loss and gradients equal the NCHW engine's. The convs are moved off the
    Dirac init first: there max-pool ties make the gradient jump under any rounding change."""
    import fast_nhwc
    X = images(m=2, H=32, W=32, seed=7)
    nets = [WhitenedConvNet(whitening_filters(images(m=8, H=32, W=32)), widths=(64, 64, 64),
                            augment=False, tta="none", dtype=np.float64, rng=0, engine=engine)
            for engine in ("nchw", "nhwc")]
    r = np.random.default_rng(8)
    for name in nets[0].params:
        step = 0.05 * r.standard_normal(nets[0].params[name].shape)
        for net in nets:
            net.params[name] = net.params[name] + step
    paths = []
    real = fast_nhwc.conv_forward_nhwc
    monkeypatch.setattr("convnet.conv_forward_nhwc",
                        lambda *a: (lambda out: (paths.append(out[1][3]), out)[1])(real(*a)))
    y = np.array([3, 8])
    (loss_a, grads_a), (loss_b, grads_b) = nets[0].loss(X, y), nets[1].loss(X, y)
    assert sum(path == "winograd" for path in paths) >= 3, paths
    assert abs(loss_a - loss_b) <= 1e-12 * abs(loss_a)
    for name in grads_a:
        assert np.abs(grads_a[name] - grads_b[name]).max() <= 1e-10 * np.abs(grads_a[name]).max(), name


@pytest.mark.parametrize("engine", ["nhwc", "nchw"])
def test_a_nan_whitening_filter_makes_the_loss_nan_on_either_engine(engine):
    whiten = whitening_filters(images(m=10))
    whiten[0, 0, 0, 0] = np.nan
    net = WhitenedConvNet(whiten, input_dim=(3, 12, 12), widths=(4, 5, 6), augment=False,
                          tta="none", dtype=np.float64, seed=0, engine=engine)
    with np.errstate(invalid="ignore"):
        loss, grads = net.loss(images(m=4, seed=5), np.array([1, 2, 3, 4]))
    assert np.isnan(loss) and all(np.isnan(g).any() for g in grads.values())
