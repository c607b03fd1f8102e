"""Models on disk: a versioned envelope and an unpickler that can only name known classes.

A stored model is `MAGIC`, one line of JSON (format, the object's class, the library versions
it was fitted with, a SHA-256 of the payload), then a pickle payload. Plain `pickle.loads`
runs whatever callable a file names (`os.system`, `builtins.eval`, ...), so loading goes
through `SafeUnpickler` instead, which allows only what fitted segsync models are made of
(the approach of the Python docs, "Restricting Globals"):

- segsync's own `segmentation.*` and `experiments.*` classes;
- scikit-learn estimators and scipy.sparse matrices (no dataset fetchers, no test helpers);
- numpy, pandas and pyarrow internals that arrays, frames, indexes, Arrow strings and
  timestamps pickle to, each named one by one or by a narrow module prefix (never pandas.io or
  pandas.core.computation);
- a few inert builtins (containers, slice, complex).

Anything else, a dotted attribute path, a payload that does not match its hash, a format
this code does not know or a class that moved, raises `IncompatibleModel`, which callers
treat as "retrain", never as a crash. Rows written by earlier versions (a bare pickle) load
through the same unpickler and are re-saved in the envelope (`Models.latest`).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle  # noqa: S403 - only ever read through SafeUnpickler below
from importlib.metadata import PackageNotFoundError, version
from typing import Any

MAGIC = b"segsync-model\n"
FORMAT = 1
_LIBS = ("scikit-learn", "numpy", "pandas", "scipy")

_PREFIXES = ("segmentation.", "experiments.", "sklearn.", "scipy.sparse.", "pandas.core.", "pandas._libs.")
_MODULES = {"segmentation", "experiments", "collections", "datetime", "decimal", "uuid", "pandas.arrays"}
_DENIED_PREFIXES = ("pandas.core.computation", "pandas.io", "sklearn.datasets", "sklearn.utils._testing",
                    "sklearn.externals", "pandas.core.config_init")
_EXACT: dict[str, frozenset[str]] = {
    "builtins": frozenset({"set", "frozenset", "slice", "complex", "bytearray", "range", "object",
                           "dict", "list", "tuple", "int", "float", "str", "bool", "bytes"}),
    "copyreg": frozenset({"_reconstructor"}),
    "numpy": frozenset({"dtype", "ndarray", "float64", "float32", "int64", "int32", "bool_", "str_", "object_"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "numpy.random._pickle": frozenset({"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"}),
    "numpy.random.mtrand": frozenset({"RandomState"}),
    # a fitted estimator may keep the seeded Generator / SeedSequence it was given
    "numpy.random.bit_generator": frozenset({"SeedSequence", "__pyx_unpickle_SeedSequence"}),
    "numpy.random._mt19937": frozenset({"MT19937"}),
    "numpy.random._pcg64": frozenset({"PCG64"}),
    "numpy.random._generator": frozenset({"Generator"}),
    "scipy.sparse": frozenset({"csr_matrix", "csc_matrix", "coo_matrix"}),
    # datetime, timedelta, period, categorical and python-storage string arrays (the default
    # without pyarrow) pickle through this Cython helper; it only rebuilds an allowed class
    "pandas._libs.arrays": frozenset({"NDArrayBacked", "__pyx_unpickle_NDArrayBacked"}),
    "pandas": frozenset({"Timestamp", "Timedelta", "DataFrame", "Series", "Index", "RangeIndex", "MultiIndex",
                         "DatetimeIndex", "CategoricalIndex", "Categorical", "CategoricalDtype", "DatetimeTZDtype",
                         "StringDtype", "ArrowDtype", "Interval", "Period", "NaT", "NA"}),
    # pandas' Arrow-backed strings pickle to these (pandas >= 3)
    "pyarrow.lib": frozenset({"_restore_array", "py_buffer", "type_for_alias", "chunked_array", "schema", "field",
                              "_reconstruct_table"}),
}


class IncompatibleModel(Exception):
    """A stored model this code cannot (or will not) load: retrain instead."""


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if not allowed(module, name):
            raise IncompatibleModel(f"a stored model names {module}.{name}, which segsync does not load")
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError) as exc:  # a class that moved or was renamed
            raise IncompatibleModel(f"{module}.{name} no longer exists ({type(exc).__name__})") from None


def allowed(module: str, name: str) -> bool:
    """Whether the unpickler may resolve `module.name`."""
    if module in _EXACT:  # listed one by one (numpy's Cython unpicklers are dunder names)
        return name in _EXACT[module]
    if "." in name or name.startswith("__"):
        return False  # attribute paths (`DataFrame.to_csv`) and dunders reach far beyond a class
    if module.startswith(_DENIED_PREFIXES):
        return False
    return module in _MODULES or module.startswith(_PREFIXES)


def library_versions() -> dict[str, str]:
    out = {}
    for lib in _LIBS:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[lib] = "?"
    return out


def dump_model(obj: Any) -> bytes:
    """The envelope for `obj`."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    header = {"format": FORMAT, "class": f"{type(obj).__module__}.{type(obj).__qualname__}",
              "libraries": library_versions(), "sha256": hashlib.sha256(payload).hexdigest()}
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def read_header(data: bytes) -> dict[str, Any] | None:
    """The envelope's header, or None for a bare (pre-envelope) pickle."""
    if not data.startswith(MAGIC):
        return None
    line, _, _ = data[len(MAGIC):].partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError:
        raise IncompatibleModel("the stored model's header is not JSON") from None
    if not isinstance(header, dict):
        raise IncompatibleModel("the stored model's header is not an object")
    return header


def load_model(data: bytes) -> Any:
    """The object in an envelope, or in a bare pickle of an earlier segsync; IncompatibleModel
    when it cannot or may not be loaded."""
    header = read_header(data)
    payload = data
    if header is not None:
        if header.get("format") != FORMAT:
            raise IncompatibleModel(f"stored model format {header.get('format')!r}, this segsync reads {FORMAT}")
        payload = data[len(MAGIC):].partition(b"\n")[2]
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise IncompatibleModel("the stored model does not match its checksum")
    try:
        return SafeUnpickler(io.BytesIO(payload)).load()
    except IncompatibleModel:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign payload is "retrain", not a crash
        raise IncompatibleModel(f"the stored model cannot be read ({type(exc).__name__}: {exc})") from None
