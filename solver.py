"""Minibatch gradient descent for any model with params and loss(X, y=None).

Example:

    solver = Solver(model, data, update_rule='adam',
                    optim_config={'learning_rate': 1e-3}, lr_decay=0.95,
                    num_epochs=10, batch_size=100, print_every=100)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

With checkpoint_name set, solver.resume() before solver.train() continues a
killed run from its latest checkpoint (one written with the same settings).

data holds 'X_train', 'y_train', 'X_val', 'y_val'. The model must expose
`params` (name -> array) and `loss(X, y=None)` returning scores when y is None
and (loss, grads) otherwise. After train() the model holds the parameters
that scored best on the validation set.
"""
import glob
import hashlib
import io
import json
import os
import pickle
import re
import sys
import tempfile
import time

import numpy as np

import optim
from validate import nonnegative_int, positive_int

DEFAULTS = dict(update_rule="sgd", optim_config=None, lr_decay=1.0, batch_size=100,
                num_epochs=10, num_train_samples=1000, num_val_samples=None,
                checkpoint_name=None, keep_last=2, print_every=10, verbose=True, seed=None,
                lr_schedule=None, param_optim_config=None, lookahead=None, before_epoch=None,
                after_epoch=None)


class Solver:
    """Trains a model by minibatch descent, one optimizer config per parameter.

    Keyword arguments (defaults in DEFAULTS):
      update_rule:       a name in optim.UPDATE_RULES or a function of the same signature.
      optim_config:      hyperparameters for the update rule (learning_rate, ...).
      lr_decay:          learning rates are multiplied by this after every epoch.
      lr_schedule:       instead of lr_decay: a function of the fraction of training done
                         (t / total steps, in [0, 1)) whose value multiplies every base
                         learning rate before each step (warm-up, linear decay, ...).
      param_optim_config: {name prefix: dict}: parameters whose name starts with the
                         prefix train with the dict's entries over optim_config (e.g.
                         {'beta': {'learning_rate': 0.5, 'weight_decay': 0}}).
      lookahead:         an optim.Lookahead: every few steps the weights (and buffers)
                         move back to a slow moving average of themselves; training
                         ends on the slow weights. None: off.
      batch_size:        examples per step.
      num_epochs:        passes over the training data; an epoch is
                         max(1, N_train // batch_size) steps of a fresh shuffle.
      num_train_samples: training examples used to measure training accuracy (None: all).
      num_val_samples:   validation examples used to measure validation accuracy (None: all).
      checkpoint_name:   if set, '<checkpoint_name>-<fingerprint>_epoch_<e>.npz' is
                         written after epoch e, where the fingerprint hashes the settings,
                         the model's configuration and initial parameters and the data's
                         shape, so a changed setting never resumes a stale run;
                         resume() or load_checkpoint() continues from one.
      keep_last:         how many of the newest checkpoints to keep (older ones are deleted).
      before_epoch:      a function called with the Solver at the start of every epoch
                         (solver.epoch is the number of epochs done), before its batches
                         are drawn; also the first epoch after a resume, so state kept
                         per epoch (mirrored images, say) follows the Solver by itself.
      after_epoch:       a function called with the Solver after every epoch, once its
                         accuracies are recorded and its checkpoint written; an exception
                         it raises stops training there (a search prunes a hopeless trial
                         this way).
      print_every:       print the loss every this many steps (with verbose).
      verbose:           print progress.
      seed:              seeds the shuffles and subsamples; None uses NumPy's global generator.

    A model may also have `buffers` (name -> array: state that is not trained by
    gradients, such as batch norm's running statistics) and `load_buffers(dict)`;
    the Solver then keeps them with the parameters: in checkpoints, and with the
    best parameters, which train() restores together.
    """

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(DEFAULTS))
        if unknown:
            raise TypeError(f"unknown Solver argument(s) {unknown}; "
                            f"valid arguments are {sorted(DEFAULTS)}")
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise KeyError(f"data is missing {missing}; it needs X_train, y_train, X_val, y_val")
        for X_key, y_key in (("X_train", "y_train"), ("X_val", "y_val")):
            if len(data[X_key]) == 0 or len(data[X_key]) != len(data[y_key]):
                raise ValueError(f"data[{X_key!r}] must hold at least one example and as many "
                                 f"as data[{y_key!r}] has labels, got {len(data[X_key])} and "
                                 f"{len(data[y_key])}")
        for key in ("X_train", "X_val"):
            bad = int(np.size(data[key]) - np.count_nonzero(np.isfinite(data[key])))
            if bad:
                raise ValueError(f"data[{key!r}] holds {bad} NaN or infinite values: fix the "
                                 f"data (no learning rate can)")
        settings = {**DEFAULTS, **kwargs}
        self.settings = settings
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = self._resolve_rule(settings["update_rule"])
        self.optim_config = dict(settings["optim_config"] or {})
        self.lr_decay = settings["lr_decay"]
        if not (isinstance(self.lr_decay, (int, float)) and self.lr_decay >= 0):
            raise ValueError(f"lr_decay must be a non-negative number, got {self.lr_decay!r}")
        self.lr_schedule = settings["lr_schedule"]
        if self.lr_schedule is not None and (self.lr_decay != 1 or not callable(self.lr_schedule)):
            raise ValueError("lr_schedule must be a function, and replaces lr_decay "
                             f"(leave lr_decay at 1.0, got {self.lr_decay!r})")
        self.param_optim_config = dict(settings["param_optim_config"] or {})
        self.lookahead = settings["lookahead"]
        if self.lookahead is not None and not callable(getattr(self.lookahead, "decay", None)):
            raise ValueError(f"lookahead must be an optim.Lookahead or None, got "
                             f"{self.lookahead!r}")
        self.batch_size = positive_int("batch_size", settings["batch_size"])
        self.num_epochs = nonnegative_int("num_epochs", settings["num_epochs"])
        self.num_train_samples = settings["num_train_samples"]
        self.num_val_samples = settings["num_val_samples"]
        self.checkpoint_name = settings["checkpoint_name"]
        self.keep_last = positive_int("keep_last", settings["keep_last"])
        self.print_every = positive_int("print_every", settings["print_every"])
        self.verbose = settings["verbose"]
        self.rng = np.random if settings["seed"] is None else np.random.default_rng(settings["seed"])
        self.fingerprint = _fingerprint(model, data, settings)
        self.checkpoint_prefix = (None if self.checkpoint_name is None
                                  else f"{self.checkpoint_name}-{self.fingerprint[:10]}")
        self.resumed_from = None
        self.wall_time_s = 0.0
        self._reset()

    @staticmethod
    def _resolve_rule(rule):
        if callable(rule):
            return rule
        if rule not in optim.UPDATE_RULES:
            raise ValueError(f"unknown update_rule {rule!r}; choose one of "
                             f"{sorted(optim.UPDATE_RULES)} or pass a function")
        return optim.UPDATE_RULES[rule]

    def _reset(self):
        self.epoch = 0
        self.t = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.best_buffers = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.epoch_times = []
        self.slow_weights = {}
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}
        for name, config in self.optim_configs.items():
            for prefix, override in self.param_optim_config.items():
                if name.startswith(prefix):
                    config.update(override)
        self.base_learning_rates = {name: config.get("learning_rate")
                                    for name, config in self.optim_configs.items()}

    @property
    def iterations_per_epoch(self):
        return max(1, self.X_train.shape[0] // self.batch_size)

    # ------------------------------------------------------------- training

    def _step(self, batch):
        """One update of every parameter on the examples indexed by batch (see _check)."""
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self._check(loss, grads)
        self.loss_history.append(float(loss))
        if self.lr_schedule is not None:
            factor = self.lr_schedule(self.t / (self.num_epochs * self.iterations_per_epoch))
            for name, config in self.optim_configs.items():
                if self.base_learning_rates[name] is not None:
                    config["learning_rate"] = self.base_learning_rates[name] * factor
        for name, value in self.model.params.items():
            next_value, self.optim_configs[name] = self.update_rule(
                value, grads[name], self.optim_configs[name])
            self.model.params[name] = next_value
        self.t += 1
        total = self.num_epochs * self.iterations_per_epoch
        if self.lookahead is not None and (self.t % self.lookahead.every == 0 or self.t == total):
            self._lookahead(1.0 if self.t == total else self.lookahead.decay(self.t / total))

    def _check(self, loss, grads):
        """Raise FloatingPointError when the loss is not finite or has grown past EXPLODED
        times the first loss (divergence that has not reached NaN yet), or when a
        gradient holds NaN or Inf; naming the parameters when they hold NaN or Inf
        themselves (no learning rate is to blame then)."""
        first = self.loss_history[0] if self.loss_history else None
        bad_grads = sorted(k for k, g in grads.items() if not np.all(np.isfinite(g)))
        exploded = first is not None and np.isfinite(loss) and loss > EXPLODED * max(first, 1e-3)
        if not np.isfinite(loss) or exploded:
            what = f"loss became {float(loss):.4g}" + ("" if first is None else
                                                       f" (first loss {first:.4g})")
        elif bad_grads:
            what = f"the gradients of {bad_grads} hold NaN or Inf"
        else:
            return
        where = f"at iteration {self.t + 1} (epoch {self.epoch + 1})"
        bad_params = sorted(k for k, v in self.model.params.items() if not np.all(np.isfinite(v)))
        if bad_params:
            raise FloatingPointError(
                f"{what} {where}: the parameters {bad_params} hold NaN or Inf"
                + (" before any update; check how they were set" if self.t == 0 else ""))
        lr = next(iter(self.optim_configs.values()), {}).get("learning_rate", "the default")
        raise FloatingPointError(f"{what} {where}; training diverged: try a smaller learning "
                                 f"rate than {lr} in optim_config")

    def _lookahead(self, decay):
        """slow <- slow + (1 - decay) * (fast - slow), then fast <- slow (params, buffers)."""
        fast = {**{("param", k): v for k, v in self.model.params.items()},
                **{("buffer", k): v for k, v in _buffers(self.model).items()}}
        if not self.slow_weights:
            self.slow_weights = {k: v.copy() for k, v in fast.items()}
        for key, value in fast.items():
            slow = self.slow_weights[key]
            slow += (value - slow) * slow.dtype.type(1 - decay)
        self.model.params.update({k: v.copy() for (kind, k), v in self.slow_weights.items()
                                  if kind == "param"})
        buffers = {k: v.copy() for (kind, k), v in self.slow_weights.items() if kind == "buffer"}
        if buffers:
            self.model.load_buffers(buffers)

    def _record_accuracies(self):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self.best_buffers = {k: v.copy() for k, v in _buffers(self.model).items()}
        return train_acc, val_acc

    def train(self):
        """Run the remaining epochs, then load the best parameters into the model.

        Returns the Solver; wall_time_s holds the seconds this call took, and
        epoch_times the seconds of every epoch so far (resumed runs included).
        """
        total = self.num_epochs * self.iterations_per_epoch
        clock = (time.time(), self.t, total)
        if self.epoch == 0:
            self._log_accuracies(*self._record_accuracies(), clock)
        while self.epoch < self.num_epochs:
            epoch_start = time.time()
            if self.settings["before_epoch"] is not None:
                self.settings["before_epoch"](self)
            order = self.rng.permutation(self.X_train.shape[0])
            for i in range(self.iterations_per_epoch):
                self._step(order[i * self.batch_size:(i + 1) * self.batch_size])
                if self.verbose and self.t % self.print_every == 0:
                    print(f"(Iteration {self.t} / {total}) loss: {self.loss_history[-1]:f}")
            self.epoch += 1
            for config in self.optim_configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay
            self._log_accuracies(*self._record_accuracies(), clock)
            self.epoch_times.append(time.time() - epoch_start)
            self._save_checkpoint()
            if self.settings["after_epoch"] is not None:
                self.settings["after_epoch"](self)
        if self.best_params:
            self.model.params.update({k: v.copy() for k, v in self.best_params.items()})
            if self.best_buffers:
                self.model.load_buffers({k: v.copy() for k, v in self.best_buffers.items()})
        self.wall_time_s = time.time() - clock[0]
        return self

    def _log_accuracies(self, train_acc, val_acc, clock):
        """Print the accuracies with elapsed time and an estimate of the time left."""
        if not self.verbose:
            return
        start, t_start, total = clock
        elapsed = time.time() - start
        done = self.t - t_start
        remaining = total - self.t
        eta = f", ETA {elapsed / done * remaining:.0f}s" if done and remaining else ""
        print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
              f"val_acc: {val_acc:f}  [{elapsed:.0f}s elapsed{eta}]", flush=True)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of X's examples (a random num_samples of them if given) classified as y."""
        if num_samples is not None and X.shape[0] > num_samples:
            pick = self.rng.choice(X.shape[0], num_samples, replace=False)
            X, y = X[pick], y[pick]
        predictions = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                       for i in range(0, X.shape[0], batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    # ---------------------------------------------------------- checkpoints

    def _random_state(self):
        """The state of every generator training draws from: the Solver's and the model's."""
        state = {"solver": (np.random.get_state() if self.rng is np.random
                            else self.rng.bit_generator.state)}
        model_rng = getattr(self.model, "rng", None)
        if isinstance(model_rng, np.random.Generator):
            state["model"] = model_rng.bit_generator.state
        return state

    def _save_checkpoint(self):
        if self.checkpoint_prefix is None:
            return
        state = {name: getattr(self, name) for name in _CHECKPOINTED}
        state["params"] = self.model.params
        state["buffers"] = _buffers(self.model)
        state["random_state"] = self._random_state()
        state["fingerprint"] = self.fingerprint
        path = f"{self.checkpoint_prefix}_epoch_{self.epoch}.npz"
        payload = _checkpoint_bytes(state)
        _write_durably(path, payload)                 # the checkpoint, then its hash
        _write_durably(path + ".sha256", hashlib.sha256(payload).hexdigest().encode())
        for _, old in _checkpoints(self.checkpoint_prefix)[:-self.keep_last]:
            for stale in (old, old + ".sha256"):
                if os.path.exists(stale):
                    os.remove(stale)

    def load_checkpoint(self, path):
        """Restore model parameters, optimizer state, histories, generators and epoch from path.

        A following train() continues with the next epoch. A checkpoint written with
        other settings, or whose bytes do not match the SHA-256 saved beside it
        (truncated, corrupted), is refused with ValueError before anything is changed.
        """
        with open(path, "rb") as f:
            payload = f.read()
        if os.path.exists(path + ".sha256"):
            with open(path + ".sha256", encoding="ascii") as f:
                expected = f.read().strip()
            if hashlib.sha256(payload).hexdigest() != expected:
                raise ValueError(f"{path} is corrupted or truncated: its SHA-256 differs from "
                                 f"the one saved beside it")
        if path.endswith(".pkl"):
            raise ValueError(f"{path} is a pickle checkpoint of an older version; loading a pickle "
                             f"can run code, so convert it first if you trust it: "
                             f"python solver.py convert {path}")
        try:
            state = _checkpoint_state(payload)
        except (ValueError, KeyError, TypeError, OSError, EOFError) as error:
            raise ValueError(f"{path} is not a readable checkpoint ({error})") from None
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(f"{path} was written by a run with other settings (model, "
                             f"parameters, data or Solver arguments); refusing to resume from it")
        state.setdefault("slow_weights", {})          # written before lookahead existed
        for name in _CHECKPOINTED:
            setattr(self, name, state[name])
        self.model.params.update(state["params"])
        if state["buffers"]:
            self.model.load_buffers(state["buffers"])
        random_state = state["random_state"]
        if self.rng is np.random:
            np.random.set_state(random_state["solver"])
        else:
            self.rng.bit_generator.state = random_state["solver"]
        if "model" in random_state:
            self.model.rng.bit_generator.state = random_state["model"]
        return self

    def resume(self):
        """Load this run's latest checkpoint, if any; returns its epoch or None.

        Prints where it resumed from (with verbose). Sets resumed_from.
        A corrupted latest checkpoint is reported and the next newest intact one used.
        """
        found = _checkpoints(self.checkpoint_prefix) if self.checkpoint_prefix else []
        for _, path in reversed(found):
            try:
                self.load_checkpoint(path)
            except ValueError as error:
                print(f"skipping {error}", file=sys.stderr)
                continue
            self.resumed_from = self.epoch
            if self.verbose:
                print(f"resuming from {os.path.basename(path)} (epoch {self.epoch})")
            break
        return self.resumed_from

    @staticmethod
    def latest_checkpoint(prefix):
        """Path of the highest-epoch checkpoint '<prefix>_epoch_<e>.npz', or None."""
        found = _checkpoints(prefix)
        return found[-1][1] if found else None


def _write_durably(path, payload):
    """Write bytes to path through a temporary file of its own, synced before the rename:
    a crash never leaves a torn file, and two runs never share a temporary name."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _checkpoints(prefix):
    """[(epoch, path)] of the checkpoints '<prefix>_epoch_<e>.npz', oldest first."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r"_epoch_(\d+)\.npz$")
    return sorted((int(m.group(1)), p) for p in glob.glob(f"{glob.escape(prefix)}_epoch_*.npz")
                  if (m := pattern.search(p)))


# ------------------------------------------------------ the checkpoint format
# A checkpoint is an .npz archive read with allow_pickle=False, so loading one never
# runs code: every array of the state is an entry of its own, and the rest (numbers,
# strings, the nesting) is JSON in the entry STATE_ENTRY, arrays replaced by
# {"__array__": entry}. Tuples, dicts with non-string keys and NumPy scalars are
# tagged so that they come back with the same types, and resumed runs with the same bits.

STATE_ENTRY = "__state_json__"


def _checkpoint_bytes(state):
    """The .npz bytes of state (nested dicts/lists/tuples of arrays, numbers, strings)."""
    arrays = {}
    tree = _encode(state, arrays, "state")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{STATE_ENTRY: np.frombuffer(
        json.dumps(tree).encode("utf-8"), dtype=np.uint8)})
    return buffer.getvalue()


def _checkpoint_state(payload):
    """The state that _checkpoint_bytes wrote, from its bytes (no pickle involved)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    tree = json.loads(arrays.pop(STATE_ENTRY).tobytes().decode("utf-8"))
    return _decode(tree, arrays)


def _encode(value, arrays, where):
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{where} is an object array, which a checkpoint cannot hold")
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, np.generic):
        return {"__scalar__": value.dtype.str, "value": value.item()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in value.items()}
        return {"__items__": [[_encode(k, arrays, f"{where} key"),
                               _encode(v, arrays, f"{where}[{k!r}]")] for k, v in value.items()]}
    raise TypeError(f"{where} is a {type(value).__name__}, which a checkpoint cannot hold")


def _decode(tree, arrays):
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        return arrays[tree["__array__"]]
    if "__scalar__" in tree:
        return np.dtype(tree["__scalar__"]).type(tree["value"])
    if "__tuple__" in tree:
        return tuple(_decode(v, arrays) for v in tree["__tuple__"])
    if "__items__" in tree:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in tree["__items__"]}
    return {k: _decode(v, arrays) for k, v in tree.items()}


def convert_pickle_checkpoint(path):
    """Rewrite a trusted pickle checkpoint of an older version ('..._epoch_<e>.pkl') as
    the .npz beside it, with its SHA-256; returns the new path. Unpickling runs code:
    only convert files you wrote yourself."""
    with open(path, "rb") as f:
        state = pickle.load(f)
    payload = _checkpoint_bytes(state)
    target = path[:-len(".pkl")] + ".npz"
    _write_durably(target, payload)
    _write_durably(target + ".sha256", hashlib.sha256(payload).hexdigest().encode())
    return target


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Convert trusted pickle checkpoints of an "
                                                 "older version to the .npz format.")
    parser.add_argument("command", choices=["convert"])
    parser.add_argument("paths", nargs="+", help="'..._epoch_<e>.pkl' files")
    for old in parser.parse_args().paths:
        print(f"{old} -> {convert_pickle_checkpoint(old)}")


def _model_config(model):
    """The model's class and plain settings (numbers, strings, dtypes), and a wrapped model's."""
    config = {"class": type(model).__name__}
    for name, value in sorted(vars(model).items()):
        if isinstance(value, (bool, int, float, str, tuple, type, np.dtype)):
            config[name] = str(value)
        elif hasattr(value, "params") and hasattr(value, "loss"):
            config[name] = _model_config(value)
    return config


def _fingerprint(model, data, settings):
    """SHA-256 of everything a run's result depends on but its checkpoint does not hold."""
    digest = hashlib.sha256()
    for name in sorted(model.params):
        digest.update(name.encode() + np.ascontiguousarray(model.params[name]).tobytes())
    for key in ("X_train", "y_train", "X_val", "y_val"):
        array = np.asarray(data[key])
        digest.update(f"{key}{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array[:1]).tobytes() + np.ascontiguousarray(array[-1:]).tobytes())
    rule = settings["update_rule"]
    described = {k: v for k, v in settings.items() if k not in ("checkpoint_name", "keep_last",
                                                                 "print_every", "verbose",
                                                                 "before_epoch", "after_epoch")}
    described["update_rule"] = getattr(rule, "__name__", rule)
    schedule = settings.get("lr_schedule")
    if schedule is not None:     # a plain function's repr holds its address: use its name
        described["lr_schedule"] = (repr(schedule) if " at 0x" not in repr(schedule)
                                    else f"{schedule.__module__}.{schedule.__qualname__}")
    if described.get("lookahead") is None:   # runs from before lookahead keep their names
        described.pop("lookahead", None)
    described["model"] = _model_config(model)
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    return digest.hexdigest()


# A loss this many times the first one means the run diverged, even before it overflows.
EXPLODED = 1e3


def _buffers(model):
    """The model's non-trained state (name -> array), {} for a model without buffers."""
    return dict(getattr(model, "buffers", None) or {})


_CHECKPOINTED = ("epoch", "t", "best_val_acc", "best_params", "best_buffers", "loss_history",
                 "train_acc_history", "val_acc_history", "optim_configs", "epoch_times",
                 "slow_weights")
