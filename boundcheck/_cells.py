"""Grids, per-cell seeds and canonical cell keys and results: what the store and the engine share.

A :class:`Grid` of parameters, :func:`coords_key` (a cell's stable identifier), :func:`cell_seed` (the
seed of a cell depends on the sweep seed and the cell's coordinates only), and the canonical (JSON-exact)
form of a cell's result, which is stored, pickled back from workers and turned into the table.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ._validate import check_int

__all__ = ["Grid", "cell_seed", "coords_key"]


# --------------------------------------------------------------------------------------------------------
# Grids, coordinates and seeds
# --------------------------------------------------------------------------------------------------------

def _canonical_scalar(value, where: str, *, allow_none: bool = True, allow_nonfinite: bool = True):
    """Return ``value`` as a plain JSON scalar (None, bool, int, float, str) or raise TypeError."""
    if value is None or value is pd.NA or value is pd.NaT:
        if not allow_none:
            raise TypeError(f"{where} must not be None")
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not allow_nonfinite and not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value}")
        return value
    if isinstance(value, str):
        return value
    raise TypeError(f"{where} must be a scalar (int, float, str, bool or None), got "
                    f"{type(value).__name__}: {value!r}")


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _canonical_coords(coords: Mapping) -> dict:
    if not isinstance(coords, Mapping):
        raise TypeError(f"coords must be a mapping of parameter name to value, got {type(coords).__name__}")
    out = {}
    for name, value in coords.items():
        if not isinstance(name, str):
            raise TypeError(f"parameter names must be strings, got {name!r}")
        out[name] = _canonical_scalar(value, f"coordinate {name!r}", allow_none=False, allow_nonfinite=False)
    return out


def coords_key(coords: Mapping) -> str:
    """A stable identifier of a cell: the SHA-256 (hex, 32 characters) of its canonical coordinates.

    The canonical form is the JSON of the coordinates with sorted names, so it does not depend on the
    order of the parameters, on the process or on ``PYTHONHASHSEED``. ``1`` and ``1.0`` are different
    coordinates.
    """
    text = _canonical_json(_canonical_coords(coords))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Grid:
    """The cartesian product of parameter values, in a stable order.

    Parameters
    ----------
    params : mapping of str to sequence
        Parameter name -> list of values (int, float, str or bool; finite; no duplicates). The order of the
        names and of the values is kept: the last parameter varies fastest, as in
        :func:`itertools.product`.

    Examples
    --------
    >>> g = Grid({"d": [25, 100], "C0": [0.5, 1.0]})
    >>> len(g), g[1]
    (4, {'d': 25, 'C0': 1.0})
    """

    __slots__ = ("_names", "_values")

    def __init__(self, params: Mapping[str, Sequence]):
        if isinstance(params, Grid):
            self._names, self._values = params._names, params._values
            return
        if not isinstance(params, Mapping):
            raise TypeError(f"grid must be a mapping of parameter name to a list of values, "
                            f"got {type(params).__name__}")
        names, values = [], []
        for name, vals in params.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"grid parameter names must be non-empty strings, got {name!r}")
            if isinstance(vals, (str, bytes)) or not isinstance(vals, (Sequence, np.ndarray, range)):
                raise TypeError(f"grid[{name!r}] must be a list of values (write [{vals!r}] for a single "
                                f"value), got {type(vals).__name__}")
            canon = tuple(_canonical_scalar(v, f"grid[{name!r}] value", allow_none=False,
                                            allow_nonfinite=False) for v in vals)
            if not canon:
                raise ValueError(f"grid[{name!r}] must hold at least one value")
            seen = [_canonical_json(v) for v in canon]
            if len(set(seen)) != len(seen):
                raise ValueError(f"grid[{name!r}] holds duplicate values: {list(canon)}")
            names.append(name)
            values.append(canon)
        self._names = tuple(names)
        self._values = tuple(values)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return self._names

    def to_dict(self) -> dict[str, list]:
        """``{name: [values]}`` (plain JSON types)."""
        return {n: list(v) for n, v in zip(self._names, self._values)}

    def __len__(self) -> int:
        return math.prod(len(v) for v in self._values)

    def __iter__(self) -> Iterator[dict]:
        for combo in itertools.product(*self._values):
            yield dict(zip(self._names, combo))

    def __getitem__(self, i: int) -> dict:
        i = check_int(i, "index")
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"cell index {i} out of range for a grid of {n} cells")
        combo = []
        for vals in reversed(self._values):
            i, r = divmod(i, len(vals))
            combo.append(vals[r])
        return dict(zip(self._names, reversed(combo)))

    def index(self, coords: Mapping) -> int:
        """The position of a cell in grid order."""
        coords = _canonical_coords(coords)
        if set(coords) != set(self._names):
            raise KeyError(f"coords {coords} do not name this grid's parameters {list(self._names)}")
        i = 0
        for name, vals in zip(self._names, self._values):
            target = _canonical_json(coords[name])
            for j, v in enumerate(vals):
                if _canonical_json(v) == target:
                    break
            else:
                raise KeyError(f"{name}={coords[name]!r} is not in the grid")
            i = i * len(vals) + j
        return i

    def __eq__(self, other) -> bool:
        return isinstance(other, Grid) and self.to_dict() == other.to_dict() and self._names == other._names

    def __hash__(self) -> int:
        return hash(_canonical_json(self.to_dict()))

    def __repr__(self) -> str:
        return f"Grid({self.to_dict()!r})"


_SEED_DOMAIN = b"boundcheck.cell_seed.v1\n"


def _check_sweep_seed(seed) -> np.random.SeedSequence:
    if seed is None:
        raise TypeError("a sweep needs an explicit seed (an int >= 0 or a numpy SeedSequence), so that it "
                        "can be reproduced and resumed; seed=None is refused")
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int >= 0 or a numpy SeedSequence, got {type(seed).__name__}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.SeedSequence(int(seed))


def _seed_descriptor(seed) -> int | dict:
    """A JSON description of the sweep seed (stored in the manifest and in every cell)."""
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": seed.entropy, "spawn_key": [int(k) for k in seed.spawn_key]}
    return int(seed)


def cell_seed(sweep_seed, coords: Mapping) -> np.random.SeedSequence:
    """The seed of one cell, from the sweep seed and the cell's coordinates alone.

    Parameters
    ----------
    sweep_seed : int or numpy.random.SeedSequence
        The sweep's seed.
    coords : mapping
        The cell's coordinates ``{name: value}``; the order of the names does not matter.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(entropy=sweep entropy, spawn_key=sweep spawn_key + words)``, where ``words`` are the
        eight 32-bit words of ``SHA-256(domain tag + canonical JSON of the sorted coordinates)``.

    Notes
    -----
    The seed does not depend on the grid the cell belongs to, the order of cells, the worker, the process
    or ``PYTHONHASHSEED`` (Python's ``hash()`` is not used). Adding values to a grid therefore leaves the
    existing cells' draws unchanged. Changing this scheme would change every stored result: it is
    versioned by its domain tag.
    """
    ss = _check_sweep_seed(sweep_seed)
    text = _canonical_json(_canonical_coords(coords))
    digest = hashlib.sha256(_SEED_DOMAIN + text.encode()).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 32, 4))
    return np.random.SeedSequence(entropy=ss.entropy, spawn_key=tuple(ss.spawn_key) + words,
                                  pool_size=ss.pool_size)


# --------------------------------------------------------------------------------------------------------
# Canonical results (the one form that is stored, pickled back from workers and turned into the table)
# --------------------------------------------------------------------------------------------------------

def _canonical_result(result, coords_names: Sequence[str] = ()) -> dict:
    """``{"kind": "row"|"frame", "columns": [...], "data": [[...], ...]}`` of plain JSON scalars."""
    if isinstance(result, pd.DataFrame):
        columns = list(result.columns)
        for c in columns:
            if not isinstance(c, str):
                raise TypeError(f"result columns must be strings, got {c!r}")
        if len(set(columns)) != len(columns):
            raise ValueError(f"result has duplicate columns: {columns}")
        cols = [[_canonical_scalar(v, f"result column {c!r}") for v in result[c].tolist()] for c in columns]
        data = [list(row) for row in zip(*cols)] if columns else [[] for _ in range(len(result))]
        kind = "frame"
    elif isinstance(result, Mapping):
        columns = []
        row = []
        for c, v in result.items():
            if not isinstance(c, str):
                raise TypeError(f"result keys must be strings, got {c!r}")
            if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) > 0:
                raise TypeError(f"result[{c!r}] is an array; a dict result holds one scalar per key "
                                "(return a pandas DataFrame for several rows)")
            columns.append(c)
            row.append(_canonical_scalar(v, f"result[{c!r}]"))
        data = [row]
        kind = "row"
    else:
        raise TypeError("cell_fn must return a dict of scalars or a pandas DataFrame, got "
                        f"{type(result).__name__}")
    clash = sorted(set(columns) & set(coords_names))
    if clash:
        raise ValueError(f"result columns {clash} clash with the grid's coordinate names; the engine adds "
                         "the coordinates itself")
    return {"kind": kind, "columns": columns, "data": data}


def _result_object(canonical: Mapping):
    """The user-facing form of a canonical result: a dict for a row, a DataFrame for a frame."""
    if canonical["kind"] == "row":
        return dict(zip(canonical["columns"], canonical["data"][0]))
    return pd.DataFrame([dict(zip(canonical["columns"], r)) for r in canonical["data"]],
                        columns=canonical["columns"])


def _assemble(grid: Grid, results: Mapping[str, Mapping]) -> pd.DataFrame:
    """The sweep table: coordinates then result columns, cells in grid order, rows in cell order.

    ``results`` maps :func:`coords_key` to canonical results; cells without a result are left out.
    """
    names = list(grid.names)
    columns = list(names)
    seen = set(columns)
    records = []
    for coords in grid:
        res = results.get(coords_key(coords))
        if res is None:
            continue
        for c in res["columns"]:
            if c not in seen:
                seen.add(c)
                columns.append(c)
        for row in res["data"]:
            rec = dict(coords)
            rec.update(zip(res["columns"], row))
            records.append(rec)
    if not records:
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame.from_records(records, columns=columns)
