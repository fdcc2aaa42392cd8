"""Minibatch gradient descent for any model with params and loss(X, y=None).

Example:

    solver = Solver(model, data, update_rule='adam',
                    optim_config={'learning_rate': 1e-3}, lr_decay=0.95,
                    num_epochs=10, batch_size=100, print_every=100)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

With checkpoint_name set, solver.resume() before solver.train() continues a
killed run from its newest checkpoint that loads completely (one written with the
same settings and data); only one run trains under a checkpoint_name at a time.

data holds 'X_train', 'y_train', 'X_val', 'y_val'. The model must expose
`params` (name -> array) and `loss(X, y=None)` returning scores when y is None
and (loss, grads) otherwise. After train() the model holds the parameters
that scored best on the validation set.
"""
import contextlib
import glob
import hashlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np

import optim
from checkpoints import (CheckpointError, ExclusiveLock, NoLock, check_hash, epoch_files,
                         remove_quietly, set_aside, state_bytes, state_from_bytes,
                         write_durably)
from validate import check_labels, nonnegative_int, positive_int, require

try:
    import floatmode                    # the Cython build (python setup.py build_ext --inplace)
except ImportError:
    floatmode = None

DEFAULTS = dict(update_rule="sgd", optim_config=None, lr_decay=1.0, batch_size=100,
                num_epochs=10, num_train_samples=1000, num_val_samples=None,
                checkpoint_name=None, keep_last=2, print_every=10, verbose=True, seed=None,
                lr_schedule=None, param_optim_config=None, lookahead=None, before_epoch=None,
                after_epoch=None)


@contextlib.contextmanager
def subnormals_flushed():
    """While it is open, this thread's arithmetic reads and writes subnormal floats as 0
    (floatmode: the CPU's flush-to-zero and denormals-are-zero modes), then the previous mode
    is restored. Training needs it: weight decay shrinks a weight that nothing else moves (say,
    one fed by an input that is always 0) geometrically into the subnormal range, where every
    multiply takes a slow path. The three-layer ConvNet of 4.4.6 ended its third epoch with 58%
    of its hidden layer's weights subnormal (Adam, weight decay 1e-3), and an affine layer's
    product with such weights runs about 150 times slower, Adam's update about 5 times
    (benchmarks/bench_subnormals.py, one run). Yields whether the mode is set (False where floatmode
    is not built, with a warning, or the CPU has no such mode)."""
    if floatmode is None:
        warnings.warn("floatmode is not built (python setup.py build_ext --inplace): training "
                      "runs without flushing subnormal numbers, which can slow it many times "
                      "over", RuntimeWarning, stacklevel=3)
        yield False
        return
    previous = floatmode.set_flush_subnormals(True)
    try:
        yield floatmode.flushing_subnormals()
    finally:
        floatmode.restore_mode(previous)


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
                         contents, so a changed setting or image never resumes a stale run;
                         resume() or load_checkpoint() continues from one. Training holds
                         the lock '<checkpoint_name>.lock': a second run is refused.
      keep_last:         how many of the newest checkpoints to keep (older ones are deleted).
      before_epoch:      a function called with the Solver at the start of every epoch
                         (solver.epoch is the number of epochs done), before its batches
                         are drawn; also the first epoch after a resume, so state kept
                         per epoch (mirrored images, say) follows the Solver by itself.
      after_epoch:       a function called with the Solver after every epoch, once its
                         accuracies are recorded and its checkpoint written; an exception
                         it raises stops training there (a search prunes a hopeless trial
                         this way).
      print_every:       print the loss every this many steps (with verbose), with the
                         step's place in its epoch and about how long the epoch has left.
      verbose:           print progress. The printed lines (the epochs' accuracies, the
                         losses at print_every) are kept in solver.log, checkpointed, and
                         printed again, marked '[recorded] ', by resume().
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
        self.input_magnitude = _check_data(data, getattr(model, "num_classes", None))
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
        self.num_train_samples = _optional_count("num_train_samples",
                                                 settings["num_train_samples"])
        self.num_val_samples = _optional_count("num_val_samples", settings["num_val_samples"])
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
        self._train_start_t = 0
        self._nonfinite_at_start = []
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
        self.log = []
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
        gradient holds NaN or Inf; the message says what is to blame (see _blame)."""
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
        raise FloatingPointError(f"{what} at iteration {self.t + 1} (epoch {self.epoch + 1})"
                                 f"{self._blame()}")

    def _blame(self):
        """What a divergence comes from, as far as the Solver can tell: parameters or
        buffers that were not finite when train() began, inputs of huge magnitude, the
        model's forward pass (no update happened yet), or else the learning rate."""
        bad = _nonfinite(self.model)
        before_update = self.t == self._train_start_t
        lr = next(iter(self.optim_configs.values()), {}).get("learning_rate", "the default")
        if self._nonfinite_at_start:
            return (f": the parameters or buffers {self._nonfinite_at_start} hold NaN or Inf "
                    f"before any update; check how they were set (no learning rate is to blame)")
        if self.input_magnitude > HUGE_INPUT:
            return (f": the inputs reach |x| = {self.input_magnitude:.3g}; scale the data "
                    f"(e.g. to mean 0, standard deviation 1): no learning rate can fix it")
        if before_update:
            return (": before any update, so not the learning rate: the model's forward pass "
                    "on finite data gave it (check its frozen arrays and initial weights)")
        if bad:
            return (f": the parameters or buffers {bad} became NaN or Inf; training diverged: "
                    f"try a smaller learning rate than {lr} in optim_config")
        return f"; training diverged: try a smaller learning rate than {lr} in optim_config"

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

        Holds the checkpoint lock (with a checkpoint_name) while it runs. Returns the
        Solver; wall_time_s holds the seconds this call took, and epoch_times the
        seconds of every epoch so far (resumed runs included).
        """
        with self._checkpoint_lock(), subnormals_flushed():
            self._remove_stale_temporaries()
            total = self.num_epochs * self.iterations_per_epoch
            clock = (time.time(), self.t, total)
            self._train_start_t = self.t
            self._nonfinite_at_start = _nonfinite(self.model)
            if self.epoch == 0:
                self._log_accuracies(*self._record_accuracies(), clock)
            while self.epoch < self.num_epochs:
                self._train_epoch(clock)
            if self.best_params:
                self.model.params.update({k: v.copy() for k, v in self.best_params.items()})
                if self.best_buffers:
                    self.model.load_buffers({k: v.copy() for k, v in self.best_buffers.items()})
            self.wall_time_s = time.time() - clock[0]
        return self

    def _train_epoch(self, clock):
        """One epoch: before_epoch, the steps of a fresh shuffle, the learning-rate decay,
        the accuracies, the checkpoint, after_epoch."""
        epoch_start = time.time()
        if self.settings["before_epoch"] is not None:
            self.settings["before_epoch"](self)
        order = self.rng.permutation(self.X_train.shape[0])
        for i in range(self.iterations_per_epoch):
            self._step(order[i * self.batch_size:(i + 1) * self.batch_size])
            if self.t % self.print_every == 0:
                self._say(f"(Iteration {self.t} / {clock[2]}) loss: {self.loss_history[-1]:f}"
                          + _epoch_progress(i + 1, self.iterations_per_epoch, self.epoch + 1,
                                            time.time() - epoch_start))
        self.epoch += 1
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] *= self.lr_decay
        self._log_accuracies(*self._record_accuracies(), clock)
        self.epoch_times.append(time.time() - epoch_start)
        self._save_checkpoint()
        if self.settings["after_epoch"] is not None:
            self.settings["after_epoch"](self)

    def _say(self, line):
        """Keep line in the log (checkpointed, replayed by resume) and print it (verbose)."""
        self.log.append(line)
        if self.verbose:
            print(line, flush=True)

    def _log_accuracies(self, train_acc, val_acc, clock):
        """Log the accuracies with elapsed time and an estimate of the time left."""
        start, t_start, total = clock
        elapsed = time.time() - start
        done = self.t - t_start
        remaining = total - self.t
        eta = f", ETA {elapsed / done * remaining:.0f}s" if done and remaining else ""
        self._say(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                  f"val_acc: {val_acc:f}  [{elapsed:.0f}s elapsed{eta}]")

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of X's examples (a random num_samples of them if given) classified as y.

        y: (N,) integer labels in [0, C), C the width of the model's scores (N, C).
        """
        num_samples = _optional_count("num_samples", num_samples)
        batch_size = positive_int("batch_size", batch_size)
        require(len(X) == len(y) > 0, f"X and y must hold the same number (> 0) of examples, "
                                      f"got {len(X)} and {len(y)}")
        if num_samples is not None and X.shape[0] > num_samples:
            pick = self.rng.choice(X.shape[0], num_samples, replace=False)
            X, y = X[pick], y[pick]
        scores = [self.model.loss(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
        check_labels(y, scores[0].shape[1])
        predictions = np.concatenate([np.argmax(s, axis=1) for s in scores])
        return float(np.mean(predictions == y))

    # ---------------------------------------------------------- checkpoints

    def _random_state(self):
        """The state of every generator training draws from: the Solver's and the model's."""
        state = {"solver": (np.random.get_state() if self.rng is np.random
                            else self.rng.bit_generator.state)}
        model_rng = getattr(self.model, "rng", None)
        if isinstance(model_rng, np.random.Generator):
            state["model"] = model_rng.bit_generator.state
        return state

    def _checkpoint_lock(self):
        """The lock '<checkpoint_name>.lock', taken without waiting; a context manager.

        Raises RuntimeError naming the lock file when another run holds it. Without a
        checkpoint_name there is nothing to share, and no lock."""
        if self.checkpoint_name is None:
            return NoLock()
        path = f"{self.checkpoint_name}.lock"
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return ExclusiveLock(path)

    def _remove_stale_temporaries(self):
        """Delete the '.tmp' files a killed write of this run's checkpoints left behind
        (the lock is held, so no write of this name is in flight)."""
        if self.checkpoint_prefix is None:
            return
        for stale in glob.glob(f"{glob.escape(self.checkpoint_prefix)}_epoch_*.tmp"):
            remove_quietly(stale)

    def _save_checkpoint(self):
        """Write '<prefix>_epoch_<e>.npz' and its SHA-256, then delete the checkpoints of
        older epochs beyond keep_last (never a newer one: those are not this run's)."""
        if self.checkpoint_prefix is None:
            return
        state = {name: getattr(self, name) for name in _CHECKPOINTED}
        state["params"] = self.model.params
        state["buffers"] = _buffers(self.model)
        state["random_state"] = self._random_state()
        state["fingerprint"] = self.fingerprint
        path = f"{self.checkpoint_prefix}_epoch_{self.epoch}.npz"
        payload = state_bytes(state)
        write_durably(path, payload)                 # the checkpoint, then its hash
        write_durably(path + ".sha256", hashlib.sha256(payload).hexdigest().encode())
        older = [p for e, p in epoch_files(self.checkpoint_prefix) if e < self.epoch]
        for old in older[:max(0, len(older) - (self.keep_last - 1))]:
            remove_quietly(old)
            remove_quietly(old + ".sha256")

    def load_checkpoint(self, path):
        """Restore model parameters, optimizer state, histories, generators, log and epoch.

        A following train() continues with the next epoch. The whole file is read and
        checked first (see _read_checkpoint): a checkpoint of other settings, a
        corrupted, truncated or incomplete one is refused with CheckpointError (a
        ValueError) naming the file, and the Solver is left as it was.
        """
        self._apply_state(self._read_checkpoint(path))
        return self

    def _read_checkpoint(self, path):
        """The state saved in path, checked against this run; CheckpointError otherwise.

        Every entry is read (no header may claim more bytes than its entry holds) and
        checked: the SHA-256 beside it, the fingerprint, every key present, the shapes
        and dtypes of parameters and buffers, the generators' states (tried on scratch
        generators). Nothing of the Solver or model is changed.
        """
        if path.endswith(".pkl"):
            raise CheckpointError(
                f"{path} is a pickle checkpoint of an older version, which this Solver no "
                f"longer loads (unpickling can run code): retrain the model to get an .npz one")
        try:
            with open(path, "rb") as f:
                payload = f.read()
            check_hash(path, payload)
            state = state_from_bytes(payload)
        except CheckpointError:
            raise
        except Exception as error:          # any way a damaged file can fail to parse
            raise CheckpointError(f"{path} is not a readable checkpoint "
                                  f"({type(error).__name__}: {error})") from None
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            raise CheckpointError(f"{path} was written by a run with other settings (model, "
                                  f"parameters, data or Solver arguments); refusing to resume "
                                  f"from it")
        try:
            self._check_state(state)
        except (ValueError, TypeError, KeyError) as error:
            raise CheckpointError(f"{path} is incomplete or damaged: {error}") from None
        return state

    def _check_state(self, state):
        """ValueError unless state holds everything _apply_state assigns, in the shapes,
        dtypes and lengths this Solver and model expect."""
        missing = sorted(set(_CHECKPOINTED + ("params", "buffers", "random_state")) - set(state))
        require(not missing, f"missing {missing}")
        params, buffers = self.model.params, _buffers(self.model)
        _check_like("params", state["params"], params)
        _check_like("best_params", state["best_params"], params)
        _check_like("buffers", state["buffers"], buffers)
        _check_like("best_buffers", state["best_buffers"], buffers)
        if state["slow_weights"]:
            _check_like("slow_weights", state["slow_weights"],
                        {**{("param", k): v for k, v in params.items()},
                         **{("buffer", k): v for k, v in buffers.items()}})
        configs = state["optim_configs"]
        require(isinstance(configs, dict) and set(configs) == set(params)
                and all(isinstance(c, dict) for c in configs.values()),
                f"optim_configs must hold one dict per parameter {sorted(params)}")
        epoch, t = state["epoch"], state["t"]
        nonnegative_int("epoch", epoch)
        require(t == epoch * self.iterations_per_epoch and len(state["loss_history"]) == t,
                f"t = {t!r} and {len(state['loss_history'])} losses do not match epoch {epoch} "
                f"of {self.iterations_per_epoch} iterations")
        for name, length in (("train_acc_history", epoch + 1), ("val_acc_history", epoch + 1),
                             ("epoch_times", epoch)):
            require(len(state[name]) == length, f"{name} must hold {length} entries at epoch "
                                                f"{epoch}, got {len(state[name])}")
        require(isinstance(state["log"], list) and all(isinstance(s, str) for s in state["log"]),
                "log must be a list of strings")
        self._check_random_state(state["random_state"])

    def _check_random_state(self, random_state):
        """ValueError unless NumPy accepts the saved generator states for this Solver's
        generator and the model's (tried on fresh generators of the same kinds)."""
        require(isinstance(random_state, dict) and "solver" in random_state,
                "random_state must hold the Solver's generator state")
        if self.rng is np.random:
            np.random.RandomState().set_state(random_state["solver"])
        else:
            type(self.rng.bit_generator)().state = random_state["solver"]
        model_rng = getattr(self.model, "rng", None)
        if isinstance(model_rng, np.random.Generator):
            require("model" in random_state, "random_state must hold the model's generator state")
            type(model_rng.bit_generator)().state = random_state["model"]

    def _apply_state(self, state):
        """Assign a state that _read_checkpoint checked to the Solver, model and generators."""
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
        if "model" in random_state and isinstance(getattr(self.model, "rng", None),
                                                  np.random.Generator):
            self.model.rng.bit_generator.state = random_state["model"]

    def resume(self):
        """Load this run's newest checkpoint that loads completely; returns its epoch or None.

        Newer ones that do not load are renamed aside ('<file>.broken', with their
        .sha256) with their names and reasons printed to stderr, so they never count
        as this run's newest again. With verbose, prints the recorded log (each line
        marked '[recorded] ') and where it resumed from. Sets resumed_from. Holds the
        checkpoint lock while it runs and removes stale temporary files.
        """
        if self.checkpoint_prefix is None:
            return None
        with self._checkpoint_lock():
            self._remove_stale_temporaries()
            found = epoch_files(self.checkpoint_prefix)
            for _, path in reversed(found):
                try:
                    state = self._read_checkpoint(path)
                except CheckpointError as error:
                    set_aside(path, error)
                    continue
                self._apply_state(state)
                self.resumed_from = self.epoch
                self._replay_log(path)
                return self.resumed_from
        if found:
            print(f"none of the {len(found)} checkpoints {self.checkpoint_prefix}_epoch_*.npz "
                  f"loads: starting from scratch", file=sys.stderr)
        return None

    def _replay_log(self, path):
        """Print the lines a resumed run recorded, marked, then where it resumes from."""
        if self.verbose:
            for line in self.log:
                print(f"[recorded] {line}")
            print(f"resuming from {os.path.basename(path)} (epoch {self.epoch})", flush=True)


def _check_data(data, num_classes):
    """Check data's four arrays; return the largest |x| of X_train and X_val.

    KeyError for a missing entry; ValueError for an empty split, labels that are not
    one integer in [0, num_classes) per example ((N,) int; any non-negative integer
    when num_classes is None: check_accuracy checks them against the scores), and
    NaN or Inf in the inputs.
    """
    missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
    if missing:
        raise KeyError(f"data is missing {missing}; it needs X_train, y_train, X_val, y_val")
    largest = 0.0
    for X_key, y_key in (("X_train", "y_train"), ("X_val", "y_val")):
        X, y = data[X_key], data[y_key]
        require(len(X) > 0 and len(X) == len(y),
                f"data[{X_key!r}] must hold at least one example and as many as data[{y_key!r}] "
                f"has labels, got {len(X)} and {len(y)}")
        try:
            check_labels(y, math.inf if num_classes is None else num_classes)
        except ValueError as error:
            raise ValueError(f"data[{y_key!r}]: {error}") from None
        lo, hi = float(np.min(X)), float(np.max(X))    # NaN propagates; no copy of X
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = int(np.size(X) - np.count_nonzero(np.isfinite(X)))
            raise ValueError(f"data[{X_key!r}] holds {bad} NaN or infinite values: fix the "
                             f"data (no learning rate can)")
        largest = max(largest, abs(lo), abs(hi))
    return largest


def _nonfinite(model):
    """Sorted names of the model's parameters and buffers that hold NaN or Inf."""
    state = {**model.params, **_buffers(model)}
    return sorted(k for k, v in state.items() if not np.all(np.isfinite(v)))


def _optional_count(name, value):
    """None, or value as a positive int (ValueError otherwise)."""
    return None if value is None else positive_int(name, value)


def _check_like(name, arrays, reference):
    """ValueError unless arrays (key -> array) has reference's keys, shapes and dtypes."""
    require(isinstance(arrays, dict) and set(arrays) == set(reference),
            f"{name} must hold {sorted(map(str, reference))}, got "
            f"{sorted(map(str, arrays)) if isinstance(arrays, dict) else type(arrays).__name__}")
    for key, ref in reference.items():
        value = arrays[key]
        require(isinstance(value, np.ndarray) and value.shape == np.shape(ref)
                and value.dtype == np.asarray(ref).dtype,
                f"{name}[{key!r}] must be a {np.asarray(ref).dtype} array of shape "
                f"{np.shape(ref)}, got {getattr(value, 'dtype', type(value).__name__)} "
                f"{np.shape(value)}")


def _model_config(model):
    """The model's class and plain settings (numbers, strings, dtypes), and a wrapped model's."""
    config = {"class": type(model).__name__}
    for name, value in sorted(vars(model).items()):
        if isinstance(value, (bool, int, float, str, tuple, type, np.dtype)):
            config[name] = str(value)
        elif hasattr(value, "params") and hasattr(value, "loss"):
            config[name] = _model_config(value)
    return config


def _epoch_progress(steps_done, steps, epoch, seconds):
    """'  [epoch e: done/steps steps, about Ns to its end]': where a step falls in its epoch."""
    left = seconds / steps_done * (steps - steps_done)
    return f"  [epoch {epoch}: {steps_done}/{steps} steps, about {left:.0f}s to its end]"


def _fingerprint(model, data, settings):
    """SHA-256 of everything a run's result depends on but its checkpoint does not hold."""
    digest = hashlib.sha256()
    for name in sorted(model.params):
        digest.update(name.encode() + np.ascontiguousarray(model.params[name]).tobytes())
    for key in ("X_train", "y_train", "X_val", "y_val"):
        array = np.ascontiguousarray(data[key])       # a copy only if not contiguous
        digest.update(f"{key}{array.shape}{array.dtype}".encode())
        digest.update(array.reshape(-1).view(np.uint8))   # every byte: ~0.5 s for CIFAR-10
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

# Inputs larger than this in magnitude are blamed for a divergence before the learning
# rate (data scaled to order 1 is the norm; 1e30 overflows any float32 forward pass).
HUGE_INPUT = 1e6


def _buffers(model):
    """The model's non-trained state (name -> array), {} for a model without buffers."""
    return dict(getattr(model, "buffers", None) or {})


_CHECKPOINTED = ("epoch", "t", "best_val_acc", "best_params", "best_buffers", "loss_history",
                 "train_acc_history", "val_acc_history", "optim_configs", "epoch_times",
                 "slow_weights", "log")
