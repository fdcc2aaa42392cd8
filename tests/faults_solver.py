"""Bad inputs and faults of the Solver (checkpoints, resume, locking, data, divergence): each
case is tried by tests/test_fault_table.py and listed in tests/FAULTS.md."""
import glob
import hashlib
import io
import os
import pickle
import zipfile

import numpy as np

from convnet import WhitenedConvNet, whitening_filters
from conftest import RunsCode
from fc_net import FullyConnectedNet
from checkpoints import epoch_files, state_bytes, state_from_bytes
from solver import Solver


def toy_data(n=40, seed=0):
    """Two separated Gaussian blobs in 6 dimensions, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=n)
    X = rng.standard_normal((n, 6)) + 3 * y[:, None]
    return {"X_train": X, "y_train": y, "X_val": X[:10].copy(), "y_val": y[:10].copy()}


def toy_solver(tmp=None, model=None, data=None, **kwargs):
    """A seeded SGD Solver of a small FullyConnectedNet; checkpoints '<tmp>/c' when tmp."""
    settings = dict(update_rule="sgd", optim_config={"learning_rate": 0.05}, batch_size=10,
                    num_epochs=3, verbose=False, seed=0, keep_last=3)
    if tmp is not None:
        settings["checkpoint_name"] = os.path.join(tmp, "c")
    settings.update(kwargs)
    model = model or FullyConnectedNet([8], input_dim=6, num_classes=2, weight_scale=0.1,
                                       dtype=np.float64, seed=0)
    return Solver(model, data or toy_data(), **settings)


def trained(tmp, **kwargs):
    """A toy run of 3 epochs with its checkpoints (epochs 1-3) in tmp."""
    return toy_solver(tmp, **kwargs).train()


def checkpoint(solver, epoch):
    return f"{solver.checkpoint_prefix}_epoch_{epoch}.npz"


def forge(path, change):
    """Rewrite the checkpoint at path with change(state) applied, and a matching SHA-256:
    a file that passes every byte-level check but holds a state of the change's making."""
    with open(path, "rb") as f:
        state = state_from_bytes(f.read())
    change(state)
    payload = state_bytes(state)
    with open(path, "wb") as f:
        f.write(payload)
    with open(path + ".sha256", "w") as f:
        f.write(hashlib.sha256(payload).hexdigest())


def huge_header(path):
    """Rewrite path's first array entry with an .npy header claiming 2**40 float64s (the
    data stays a few bytes) and drop its .sha256: np.load would try to allocate 8 TiB."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (2 ** 40,)})
    entries["a0.npy"] = header.getvalue() + b"\0" * 16      # the header starts with the magic
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    os.remove(path + ".sha256")


def truncate(path, keep=300):
    """Cut path to its first keep bytes and drop its .sha256 (a kill mid-copy)."""
    with open(path, "r+b") as f:
        f.truncate(keep)
    os.remove(path + ".sha256")


def refused_and_untouched(tmp, change):
    """Load a forged epoch-2 checkpoint into a fresh Solver; report the refusal and whether
    the Solver and its model are exactly as before."""
    run = trained(tmp)
    forge(checkpoint(run, 2), change)
    fresh = toy_solver(tmp)
    before = {k: v.copy() for k, v in fresh.model.params.items()}
    try:
        fresh.load_checkpoint(checkpoint(run, 2))
    except ValueError as error:
        same = all(np.array_equal(before[k], v) for k, v in fresh.model.params.items())
        return (f"refused: {error}; epoch {fresh.epoch}, t {fresh.t}, "
                f"parameters unchanged: {same}")
    return "loaded"


# ------------------------------------------------------------ lost progress

def newest_checkpoints_corrupted(tmp):
    run = trained(tmp, keep_last=2)
    for epoch in (2, 3):
        with open(checkpoint(run, epoch), "r+b") as f:
            f.seek(100)
            f.write(b"\xff" * 8)
    kept = []
    again = toy_solver(tmp, keep_last=2, after_epoch=lambda s: kept.append(
        [e for e, _ in epoch_files(s.checkpoint_prefix)]))
    resumed = again.resume()
    again.train()
    aside = len(glob.glob(os.path.join(tmp, "*.broken")))
    return (f"resume() gave {resumed}; checkpoints after each epoch: {kept}; "
            f"{aside} files set aside")


def foreign_higher_epoch_file(tmp):
    run = toy_solver(tmp, keep_last=2)
    with open(checkpoint(run, 7), "wb") as f:
        f.write(b"not a checkpoint")
    run.train()
    kept = [e for e, _ in epoch_files(run.checkpoint_prefix)]
    return f"training without resume() kept the checkpoints of epochs {kept}"


def generator_state_refused(tmp):
    def bad_generator(state):
        state["random_state"]["solver"] = {"bit_generator": "MT19937", "state": {}}
    return refused_and_untouched(tmp, bad_generator)


def missing_key(tmp):
    return refused_and_untouched(tmp, lambda state: state.pop("optim_configs"))


def parameter_of_another_shape(tmp):
    def wider(state):
        state["params"]["theta1"] = np.zeros((6, 9))
    return refused_and_untouched(tmp, wider)


def _refuse_generator(path):
    forge(path, lambda s: s["random_state"].update(solver="garbage"))


def loading_the_newest_after(damage):
    """A trial: a 3-epoch run, damage(path) of its epoch-3 checkpoint, then load_checkpoint."""
    def trial(tmp):
        run = trained(tmp)
        damage(checkpoint(run, 3))
        toy_solver(tmp).load_checkpoint(checkpoint(run, 3))
    return trial


def resuming_after(damage):
    """A trial: a 3-epoch run, damage(path) of its epoch-3 checkpoint, then resume()."""
    def trial(tmp):
        run = trained(tmp)
        damage(checkpoint(run, 3))
        return f"resume() went on from epoch {toy_solver(tmp).resume()} of 3"
    return trial


def two_runs_at_once(tmp):
    second = toy_solver(tmp)
    toy_solver(tmp, after_epoch=lambda _: second.train()).train()


def resume_while_another_trains(tmp):
    second = toy_solver(tmp)
    toy_solver(tmp, after_epoch=lambda _: second.resume()).train()


def stale_temporary_files(tmp):
    run = trained(tmp)
    mine = checkpoint(run, 4) + ".k1ll3d.tmp"
    other = os.path.join(tmp, "other_epoch_1.npz.x.tmp")
    for path in (mine, other):
        with open(path, "wb") as f:
            f.write(b"half")
    toy_solver(tmp).resume()
    return (f"this run's stale .tmp left: {os.path.exists(mine)}; "
            f"another name's .tmp kept: {os.path.exists(other)}")


# ------------------------------------------------------------ code execution

def crafted_object_array(tmp):
    marker = os.path.join(tmp, "ran")
    path = os.path.join(tmp, "x_epoch_1.npz")
    np.savez(path, state=np.array([RunsCode(marker)], dtype=object))
    try:
        toy_solver().load_checkpoint(path)
    finally:
        assert not os.path.exists(marker), "the crafted checkpoint ran code"


def old_pickle_checkpoint(tmp):
    marker = os.path.join(tmp, "ran")
    path = os.path.join(tmp, "c_epoch_1.pkl")
    with open(path, "wb") as f:
        pickle.dump(RunsCode(marker), f)
    try:
        toy_solver().load_checkpoint(path)
    finally:
        assert not os.path.exists(marker), "the pickle checkpoint ran code"


# ------------------------------------------------------- silent wrong answers

def training_images_changed(tmp):
    run = trained(tmp)
    data = toy_data()
    data["X_train"][1:-1] += 1.0                 # all but the first and last example
    changed = toy_solver(tmp, data=data)
    return (f"fingerprint changed: {changed.fingerprint != run.fingerprint}; "
            f"resume() gave {changed.resume()}")


def one_validation_label_changed(tmp):
    data = toy_data()
    data["y_val"][5] = 1 - data["y_val"][5]
    changed = toy_solver(data=data).fingerprint != toy_solver().fingerprint
    return f"fingerprint changed: {changed}"


def y_val_column(tmp):
    data = toy_data()
    data["y_val"] = data["y_val"][:, None]
    toy_solver(data=data)


def label_past_num_classes(tmp):
    data = toy_data()
    data["y_train"][3] = 2
    toy_solver(data=data)


def fractional_labels(tmp):
    data = toy_data()
    data["y_val"] = data["y_val"] + 0.5
    toy_solver(data=data)


def negative_label(tmp):
    data = toy_data()
    data["y_val"][0] = -1
    toy_solver(data=data)


class NoClassCount:
    """A model without num_classes: two scores per example."""

    def __init__(self):
        self.params = {"w": np.zeros(1)}

    def loss(self, X, y=None):
        scores = np.zeros((len(X), 2))
        return scores if y is None else (0.0, {"w": np.zeros(1)})


def label_past_the_scores(tmp):
    data = toy_data()
    data["y_val"][0] = 5
    toy_solver(model=NoClassCount(), data=data).check_accuracy(data["X_val"], data["y_val"])


# ------------------------------------------------------------ obscure errors

def no_training_samples(tmp):
    toy_solver(num_train_samples=0)


def fractional_val_samples(tmp):
    toy_solver(num_val_samples=2.5)


def zero_accuracy_samples(tmp):
    solver = toy_solver()
    solver.check_accuracy(solver.X_val, solver.y_val, num_samples=0)


def data_near_1e30(tmp):
    data = toy_data()
    data["X_train"] = data["X_train"] * 1e30
    toy_solver(data=data).train()


def nan_parameter_from_the_user(tmp):
    solver = toy_solver()
    solver.model.params["theta1"][0, 0] = np.nan
    solver.train()


def nan_whitening_filters(tmp):
    X = np.random.default_rng(0).standard_normal((8, 3, 10, 10))
    whiten = whitening_filters(X)
    whiten[0, 0, 0, 0] = np.nan
    net = WhitenedConvNet(whiten, input_dim=(3, 10, 10), widths=(4, 4, 4), dtype=np.float64,
                          rng=0)
    data = {"X_train": X, "y_train": np.arange(8) % 10, "X_val": X[:2], "y_val": np.arange(2)}
    Solver(net, data, batch_size=4, num_epochs=1, verbose=False, seed=0).train()


def _max_difference(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def _resume_difference(tmp, make_solver):
    """Largest parameter difference between a straight 2-epoch run and one resumed after 1."""
    straight = make_solver(os.path.join(tmp, "straight")).train()
    make_solver(os.path.join(tmp, "half"), num_epochs=1).train()
    resumed = make_solver(os.path.join(tmp, "half"))
    resumed.resume()
    resumed.train()
    return _max_difference(straight.model.params, resumed.model.params)


def resume_with_flip_augmentation(tmp):
    X = np.random.default_rng(2).standard_normal((24, 3, 12, 12))
    data = {"X_train": X, "y_train": np.arange(24) % 10, "X_val": X[:6], "y_val": np.arange(6)}

    def make(folder, num_epochs=2):
        net = WhitenedConvNet(whitening_filters(X), input_dim=(3, 12, 12), widths=(4, 4, 4),
                              dtype=np.float64, rng=0)
        return Solver(net, data, update_rule="sgd_nesterov", optim_config={"learning_rate": 0.1},
                      batch_size=8, num_epochs=num_epochs, verbose=False, seed=0,
                      checkpoint_name=os.path.join(folder, "c"))
    return f"largest parameter difference after resume: {_resume_difference(tmp, make)}"


def resume_with_dropout(tmp):
    def make(folder, num_epochs=2):
        net = FullyConnectedNet([16], input_dim=6, num_classes=2, dropout=0.5, weight_scale=0.3,
                                dtype=np.float64, rng=0)
        return toy_solver(folder, model=net, num_epochs=num_epochs)
    return f"largest parameter difference after resume: {_resume_difference(tmp, make)}"


def checkpoint_of_another_model(tmp):
    solver = trained(tmp)
    other = FullyConnectedNet([9], input_dim=6, num_classes=2, dtype=np.float64, seed=0)
    toy_solver(tmp, model=other).load_checkpoint(checkpoint(solver, 3))


def seeded_checkpoint_into_unseeded_solver(tmp):
    solver = trained(tmp)
    toy_solver(tmp, seed=None).load_checkpoint(checkpoint(solver, 3))


def twenty_epochs_of_checkpoints(tmp):
    solver = toy_solver(tmp, num_epochs=20, keep_last=2).train()
    kept = sorted(glob.glob(f"{solver.checkpoint_prefix}_epoch_*.npz"))
    return f"{len(kept)} checkpoints kept (keep_last=2): " + ", ".join(
        os.path.basename(p).rsplit("_", 1)[1] for p in kept)


def nan_pixel_in_training_data(tmp):
    data = toy_data()
    data["X_train"][3, 2] = np.nan
    toy_solver(data=data)


def adam_at_lr_1e3(tmp):
    toy_solver(update_rule="adam", optim_config={"learning_rate": 1e3}, num_epochs=5).train()


def _refused_setting(**kwargs):
    return lambda tmp: toy_solver(**kwargs).train()


def _refused_data(change):
    def trial(tmp):
        data = toy_data()
        change(data)
        toy_solver(data=data)
    return trial


CASES = [  # (class, what is tried, trial, words the outcome must contain)
    ("lost progress", "the two newest checkpoints corrupted, then resume() and training",
     newest_checkpoints_corrupted,
     r"resume\(\) gave None; checkpoints after each epoch: \[\[1\], \[1, 2\], \[2, 3\]\]; "
     r"4 files set aside"),
    ("lost progress", "a higher-epoch file of the run's name that is no checkpoint",
     foreign_higher_epoch_file, r"epochs \[2, 3, 7\]"),
    ("lost progress", "checkpoint whose generator state NumPy refuses", generator_state_refused,
     r"c-\w+_epoch_2\.npz is incomplete or damaged.*epoch 0, t 0, parameters unchanged: True"),
    ("lost progress", "checkpoint missing its optimizer state", missing_key,
     r"missing \['optim_configs'\].*parameters unchanged: True"),
    ("lost progress", "checkpoint with a parameter of another shape", parameter_of_another_shape,
     r"params\['theta1'\] must be a float64 array of shape \(6, 8\).*unchanged: True"),
    ("lost progress", "resume() past a refused generator state",
     resuming_after(_refuse_generator), "from epoch 2 of 3"),
    ("crash", "truncated checkpoint without its .sha256", loading_the_newest_after(truncate),
     r"CheckpointError: .*epoch_3\.npz is not a readable checkpoint \(BadZipFile"),
    ("lost progress", "resume() past a truncated checkpoint without its .sha256",
     resuming_after(truncate), "from epoch 2 of 3"),
    ("crash", ".npy header claiming 2**40 elements", loading_the_newest_after(huge_header),
     r"epoch_3\.npz is not a readable checkpoint.*claims \(1099511627776,\)"),
    ("lost progress", "resume() past a header claiming 2**40 elements", resuming_after(huge_header),
     "from epoch 2 of 3"),
    ("lost progress", "two runs with one checkpoint_name at once", two_runs_at_once,
     r"RuntimeError: another run .* holds the lock .*c\.lock"),
    ("lost progress", "resume() while another run trains under the name",
     resume_while_another_trains, r"holds the lock .*c\.lock"),
    ("lost progress", ".tmp files of a killed write", stale_temporary_files,
     r"stale \.tmp left: False; another name's \.tmp kept: True"),
    ("code execution", "checkpoint crafted with an object array", crafted_object_array,
     "not a readable checkpoint"),
    ("code execution", "pickle checkpoint of an older version", old_pickle_checkpoint,
     r"c_epoch_1\.pkl is a pickle checkpoint .*retrain"),
    ("silent wrong answer", "298 of 300 training images changed before resume()",
     training_images_changed, "fingerprint changed: True; resume.. gave None"),
    ("silent wrong answer", "one validation label changed", one_validation_label_changed,
     "fingerprint changed: True"),
    ("silent wrong answer", "y_val of shape (N, 1)", y_val_column, r"y_val.*1-d.*\(10, 1\)"),
    ("silent wrong answer", "a training label 2 for 2 classes", label_past_num_classes,
     r"y_train.*\[0, 2\).*from 0 to 2"),
    ("silent wrong answer", "fractional validation labels", fractional_labels,
     r"y_val.*integer class labels, got dtype float64"),
    ("silent wrong answer", "a validation label -1", negative_label, r"y_val.*from -1 to 1"),
    ("silent wrong answer", "label 5 scored by a model of 2 scores without num_classes",
     label_past_the_scores, r"\[0, 2\).*from 0 to 5"),
    ("obscure error", "num_train_samples=0", no_training_samples,
     "num_train_samples must be a positive integer, got 0"),
    ("obscure error", "num_val_samples=2.5", fractional_val_samples,
     "num_val_samples must be a positive integer, got 2.5"),
    ("obscure error", "check_accuracy(num_samples=0)", zero_accuracy_samples,
     "num_samples must be a positive integer, got 0"),
    ("obscure error", "training data near 1e30", data_near_1e30,
     r"inputs reach \|x\| = .*e\+30.*scale the data"),
    ("obscure error", "a NaN parameter set by the user", nan_parameter_from_the_user,
     r"\['theta1'\] hold NaN or Inf before any update"),
    ("obscure error", "NaN whitening filters (a frozen buffer)", nan_whitening_filters,
     r"\['whiten'\] hold NaN or Inf before any update"),
    ("lost progress", "resume with translate/flip augmentation (WhitenedConvNet)",
     resume_with_flip_augmentation, "difference after resume: 0.0$"),
    ("lost progress", "resume with dropout drawing its masks", resume_with_dropout,
     "difference after resume: 0.0$"),
    ("silent wrong answer", "checkpoint of another model shape", checkpoint_of_another_model,
     "other settings"),
    ("silent wrong answer", "seeded run's checkpoint into an unseeded Solver",
     seeded_checkpoint_into_unseeded_solver, "other settings"),
    ("lost progress", "20 epochs with checkpoints", twenty_epochs_of_checkpoints,
     "2 checkpoints kept .keep_last=2.: 19.npz, 20.npz"),
    ("silent wrong answer", "training images holding a NaN", nan_pixel_in_training_data,
     "1 NaN or infinite"),
    ("silent wrong answer", "Adam at learning rate 1e3 (diverges without NaN)", adam_at_lr_1e3,
     "FloatingPointError: .*diverged"),
    ("silent wrong answer", "optim_config={'lr': 10}",
     _refused_setting(optim_config={"lr": 10}), "unknown optim_config key.*'lr'"),
    ("silent wrong answer", "negative learning_rate",
     _refused_setting(optim_config={"learning_rate": -0.1}), "learning_rate"),
    ("silent wrong answer", "negative lr_decay", _refused_setting(lr_decay=-0.5),
     "lr_decay must be a non-negative"),
    ("obscure error", "Solver with no training images",
     _refused_data(lambda d: d.update(X_train=d["X_train"][:0], y_train=d["y_train"][:0])),
     r"data\['X_train'\] must hold at least one example"),
    ("silent wrong answer", "Solver with one label fewer than images",
     _refused_data(lambda d: d.update(y_train=d["y_train"][:-1])),
     r"as many as data\['y_train'\]"),
]
