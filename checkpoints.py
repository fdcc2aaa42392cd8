"""Checkpoint files: the format (an .npz archive that never runs code), durable writes, the
SHA-256 beside each file, setting broken files aside, and the lock that lets one run at a
time train under a checkpoint name. solver.Solver decides what goes in them and when.

A run's checkpoints are '<prefix>_epoch_<e>.npz', each with '<file>.sha256' beside it.
"""
import glob
import hashlib
import io
import json
import math
import os
import re
import sys
import tempfile
import zipfile

import filelock
import numpy as np

from validate import require


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded (damaged, incomplete, of other settings); the
    message names the file."""


class ExclusiveLock:
    """filelock.FileLock taken without waiting, as a context manager; RuntimeError naming
    the lock file when another run holds it."""

    def __init__(self, path):
        self.path = path
        self.lock = filelock.FileLock(path)

    def __enter__(self):
        try:
            self.lock.acquire(timeout=0)
        except filelock.Timeout:
            raise RuntimeError(
                f"another run is training with this checkpoint_name: it holds the lock "
                f"{self.path}; wait for it to end, or give this run another checkpoint_name"
            ) from None
        return self

    def __exit__(self, *exc):
        self.lock.release()


class NoLock:
    """The lock of a run without checkpoints: nothing to hold."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def check_hash(path, payload):
    """CheckpointError unless payload matches the SHA-256 saved beside path (if any)."""
    if os.path.exists(path + ".sha256"):
        with open(path + ".sha256", encoding="ascii") as f:
            expected = f.read().strip()
        if hashlib.sha256(payload).hexdigest() != expected:
            raise CheckpointError(f"{path} is corrupted or truncated: its SHA-256 differs from "
                                  f"the one saved beside it")


def set_aside(path, error):
    """Rename a checkpoint that does not load (and its .sha256) to '<name>.broken', so
    that it never counts as the run's newest, and say so on stderr."""
    moved = []
    for source in (path, path + ".sha256"):
        if os.path.exists(source):
            try:
                os.replace(source, source + ".broken")
                moved.append(os.path.basename(source) + ".broken")
            except OSError as rename_error:
                print(f"could not rename {source} aside: {rename_error}", file=sys.stderr)
    print(f"skipping {error}; renamed to {moved}", file=sys.stderr)


def remove_quietly(path):
    """os.remove(path), when it still exists."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def write_durably(path, payload):
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


def epoch_files(prefix):
    """[(epoch, path)] of the checkpoints '<prefix>_epoch_<e>.npz', oldest first (only
    names of exactly that form: '<prefix>_epoch_x_epoch_3.npz' is not one)."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r"_epoch_(\d+)\.npz")
    return sorted((int(m.group(1)), p) for p in glob.glob(f"{glob.escape(prefix)}_epoch_*.npz")
                  if (m := pattern.fullmatch(os.path.basename(p))))


# ------------------------------------------------------ the checkpoint format
# A checkpoint is an .npz archive read with allow_pickle=False, so loading one never
# runs code: every array of the state is an entry of its own, and the rest (numbers,
# strings, the nesting) is JSON in the entry STATE_ENTRY, arrays replaced by
# {"__array__": entry}. Tuples, dicts with non-string keys and NumPy scalars are
# tagged so that they come back with the same types, and resumed runs with the same bits.

STATE_ENTRY = "__state_json__"


def state_bytes(state):
    """The .npz bytes of state (nested dicts/lists/tuples of arrays, numbers, strings)."""
    arrays = {}
    tree = _encode(state, arrays, "state")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{STATE_ENTRY: np.frombuffer(
        json.dumps(tree).encode("utf-8"), dtype=np.uint8)})
    return buffer.getvalue()


def state_from_bytes(payload):
    """The state that state_bytes wrote, from its bytes (no pickle involved)."""
    arrays = _archive_arrays(payload)
    tree = json.loads(arrays.pop(STATE_ENTRY).tobytes().decode("utf-8"))
    return _decode(tree, arrays)


def _archive_arrays(payload):
    """{name: array} of the .npz bytes payload, allocating nothing larger than payload.

    np.savez stores its entries uncompressed, so an entry's .npy header must claim
    exactly the bytes the entry holds: a damaged header claiming 2**40 elements is
    refused (ValueError) before anything is allocated.
    """
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for info in archive.infolist():
            require(info.compress_type == zipfile.ZIP_STORED and info.filename.endswith(".npy"),
                    f"entry {info.filename!r} is not an uncompressed .npy array")
            with archive.open(info) as f:
                version = np.lib.format.read_magic(f)
                require(version in ((1, 0), (2, 0)), f"entry {info.filename!r} has .npy "
                                                     f"version {version}")
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(f)
                require(not dtype.hasobject, f"entry {info.filename!r} holds Python objects "
                                             f"(dtype {dtype}), which no checkpoint does")
                claimed, held = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
                require(claimed == held, f"entry {info.filename!r} claims {shape} {dtype} "
                                         f"({claimed} bytes) but holds {held} bytes")
                f.seek(0)
                arrays[info.filename[:-len(".npy")]] = np.lib.format.read_array(
                    f, allow_pickle=False)
    return arrays


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
