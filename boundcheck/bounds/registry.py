"""The bounds registry: one :class:`Bound` record per lemma, looked up by id.

A :class:`Bound` carries everything a study needs to put a lemma next to a Monte Carlo estimate: its
citation, the quantity it bounds (in words, and the name of the empirical estimator), its direction, its
conditions, its failure probability, its named constants, a status label, a formula for the docs, and a
vectorized ``evaluate``. The registry is a read-only mapping from ids to records; :func:`register` adds a
record (refusing duplicate ids), :func:`get` looks one up, :func:`list_bounds` filters them, and the
decorator :func:`register_bound` turns one function into a registered entry.

This module imports numpy only (plus :mod:`boundcheck._validate`); the entries add scipy. Nothing here
needs the compiled kernels (but importing ``boundcheck.bounds`` runs ``boundcheck/__init__.py`` first).

Examples
--------
>>> from boundcheck.bounds import get
>>> b = get("lemma_B5_f_range")
>>> round(float(b.evaluate(gamma=0.1, C0=1.0)), 6)           # sqrt(2 log 20) + 1
3.447747
>>> b.evaluate(gamma=[0.1, 0.01], C0=[[0.5], [1.0]]).shape    # broadcasts like numpy
(2, 2)
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Literal, Mapping

import numpy as np

from .._validate import as_float_array, check_choice

__all__ = [
    "Bound",
    "Parameter",
    "Condition",
    "register",
    "unregister",
    "register_bound",
    "get",
    "list_bounds",
    "registry",
    "DIRECTIONS",
    "STATUSES",
    "CONDITION_KINDS",
]

DIRECTIONS = ("upper", "lower")
STATUSES = ("derived", "found", "recon")
CONDITION_KINDS = ("hypothesis", "regime")

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


# ----------------------------------------------------------------------------------------------------------
# Parameters and conditions
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    """The declared domain of one parameter of a bound.

    Parameters
    ----------
    name : str
        The keyword name used in ``evaluate(**params)``.
    description : str
        What it is, in words (shown in error messages and in :meth:`Bound.describe`).
    lower, upper : float, optional
        Interval end points; ``None`` for unbounded.
    lower_open, upper_open : bool
        Whether the end points are excluded (default: included).
    integer : bool
        Values must be integers (float arrays holding integers are accepted).
    choices : tuple of str, optional
        A string option instead of a number (e.g. ``("sharp", "crude")``); then no broadcasting.
    optional : bool
        ``None`` is an accepted value (the bound's function then decides what it means).

    Examples
    --------
    >>> Parameter("gamma", "failure level", lower=0, upper=1, lower_open=True, upper_open=True).requirement()
    'a real number in (0, 1)'
    """

    name: str
    description: str = ""
    lower: float | None = None
    upper: float | None = None
    lower_open: bool = False
    upper_open: bool = False
    integer: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Parameter name must be a Python identifier, got {self.name!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def requirement(self) -> str:
        """The domain in words, e.g. ``'an integer >= 1'`` or ``'a real number in (0, 1)'``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = "an integer" if self.integer else "a real number"
        lo, hi = self.lower, self.upper
        if lo is not None and hi is not None:
            return (f"{kind} in {'(' if self.lower_open else '['}{lo:g}, "
                    f"{hi:g}{')' if self.upper_open else ']'}")
        if lo is not None:
            return f"{kind} {'>' if self.lower_open else '>='} {lo:g}"
        if hi is not None:
            return f"{kind} {'<' if self.upper_open else '<='} {hi:g}"
        return kind

    def validate(self, value):
        """Return ``value`` standardized (a float64 array, a choice string, or None), or raise.

        Raises
        ------
        TypeError
            ``value`` is None and the parameter is not optional, or it is not a real array.
        ValueError
            Some element is outside the domain (the message names the parameter, the domain, the value
            and, for arrays, its index).
        """
        if value is None:
            if self.optional:
                return None
            raise TypeError(f"parameter {self.name} is required ({self.requirement()})")
        if self.choices is not None:
            return check_choice(value, self.name, self.choices)
        arr = _float_array(value, self.name)
        bad = np.zeros(arr.shape, dtype=bool)
        if self.lower is not None:
            bad |= (arr <= self.lower) if self.lower_open else (arr < self.lower)
        if self.upper is not None:
            bad |= (arr >= self.upper) if self.upper_open else (arr > self.upper)
        if self.integer:
            bad |= arr != np.round(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f" at index {idx}" if arr.ndim else ""
            raise ValueError(f"{self.name} must be {self.requirement()}; got {float(arr[idx])!r}{where}")
        return arr


@dataclass(frozen=True)
class Condition:
    """A condition under which a bound is stated.

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``"x_on_sphere"``.
    description : str
        The condition in words, with its source.
    check : callable, optional
        ``check(**params) -> bool array`` (True where the condition holds); it may accept only the
        parameters it needs, and may return None when the parameters given cannot decide it. ``None``
        means the condition cannot be checked from the parameters at all (an *assumption* about how the
        inputs to the bound were obtained, e.g. "x on the unit sphere").
    kind : {"hypothesis", "regime"}
        ``"hypothesis"``: the inequality is only guaranteed when the condition holds.
        ``"regime"``: the inequality holds regardless, but the lemma is only claimed to be useful (non
        vacuous, or in the paper's asymptotic regime) when it holds.
    """

    name: str
    description: str
    check: Callable[..., Any] | None = None
    kind: Literal["hypothesis", "regime"] = "hypothesis"

    def __post_init__(self):
        check_choice(self.kind, "kind", CONDITION_KINDS)
        if self.check is not None and not callable(self.check):
            raise TypeError(f"Condition {self.name!r}: check must be callable or None")


def _float_array(value, name: str, *, allow_nonfinite: bool = False) -> np.ndarray:
    """``as_float_array`` keeping 0-d inputs 0-d (``np.ascontiguousarray`` makes them 1-d)."""
    return as_float_array(value, name, allow_nonfinite=allow_nonfinite).reshape(np.shape(value))


@functools.lru_cache(maxsize=None)
def _accepted_names(fn) -> tuple[frozenset, bool]:
    sig = inspect.signature(fn)
    names = frozenset(p.name for p in sig.parameters.values()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    varkw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return names, varkw


def _call_with(fn, values: Mapping[str, Any]):
    """Call ``fn`` with the entries of ``values`` that its signature accepts (all of them for ``**kw``)."""
    names, varkw = _accepted_names(fn)
    if varkw:
        return fn(**values)
    return fn(**{k: v for k, v in values.items() if k in names})


def _as_parameters(parameters) -> tuple[Parameter, ...]:
    if parameters is None:
        return ()
    if isinstance(parameters, Mapping):
        out = []
        for name, p in parameters.items():
            if not isinstance(p, Parameter) or p.name != name:
                raise ValueError(f"parameters[{name!r}] must be a Parameter named {name!r}")
            out.append(p)
        return tuple(out)
    out = tuple(parameters)
    if not all(isinstance(p, Parameter) for p in out):
        raise TypeError("parameters must be Parameter objects (or a mapping name -> Parameter)")
    return out


def _as_conditions(conditions) -> Mapping[str, Condition]:
    if conditions is None:
        return MappingProxyType({})
    items: list[Condition] = []
    if isinstance(conditions, Mapping):
        for name, c in conditions.items():
            if isinstance(c, Condition):
                if c.name != name:
                    raise ValueError(f"conditions[{name!r}] is named {c.name!r}")
                items.append(c)
            elif isinstance(c, str):
                items.append(Condition(name, c))
            elif callable(c):
                items.append(Condition(name, (getattr(c, "__doc__", None) or name).strip(), check=c))
            else:
                raise TypeError(f"conditions[{name!r}] must be a Condition, a description or a callable")
    else:
        items = list(conditions)
        if not all(isinstance(c, Condition) for c in items):
            raise TypeError("conditions must be Condition objects (or a mapping name -> Condition)")
    out = {}
    for c in items:
        if c.name in out:
            raise ValueError(f"duplicate condition name {c.name!r}")
        out[c.name] = c
    return MappingProxyType(out)


# ----------------------------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Bound:
    """One lemma's bound: its citation, conditions, constants, failure probability and a vectorized evaluator.

    Parameters
    ----------
    id : str
        Unique identifier (a Python-like name), e.g. ``"lemma_B5_f_range"``.
    title : str
        One line in words.
    citation : str
        Paper, lemma and equation, e.g. ``"Wang, Ullah, Mianjy, Arora (NeurIPS 2022), Lemma 4.1 / B.5"``.
    quantity : str
        What is bounded, in words / symbols, e.g. ``"sup_{W in B(W0,R)} |f(x;W)|"``.
    direction : {"upper", "lower"}
        Whether ``evaluate`` returns an upper or a lower bound on ``quantity``.
    function : callable
        The evaluator: takes the bound's parameters by keyword (float arrays, already validated; optional
        ones may be None) and returns a numpy-broadcast array. Every argument of ``function`` is a parameter
        of the bound; undeclared ones get a generic real-number domain.
    formula : str
        The bound as a plain-text (or LaTeX) formula, for the docs.
    parameters : sequence of Parameter or mapping name -> Parameter
        Domains of the parameters (validated by ``evaluate``); may include parameters used only by
        ``failure_probability`` or by conditions.
    conditions : sequence of Condition or mapping name -> Condition / description / callable
        The conditions the statement needs (see :class:`Condition`).
    failure_probability : float or callable
        The probability (over the randomness in ``probability_over``) that the inequality fails, as a
        function of the parameters (it may accept only those it needs). 0 for a sure (deterministic) bound.
    constants : mapping name -> value
        Named constants, each a parameter of ``evaluate`` with this default (override by keyword).
    status : {"derived", "found", "recon"}
        The status label of the explicit form (``docs/theory.md`` section 0).
    estimator : str
        The name of the empirical estimator a study compares against (e.g. ``"boundcheck.f_range"``).
    probability_over : str
        What the failure probability is over, e.g. ``"(a, W0)"``; ``"none"`` for a sure bound.
    notes : str
        Proof route, caveats, the section of ``docs/theory.md``. Defaults to the function's docstring.
    trivial : float or callable, optional
        A value the quantity always satisfies (e.g. ``m`` for a count of ``m`` neurons, 1 for a
        probability, 0 for a norm). The bound is vacuous when it says no more: ``value >= trivial`` for an
        upper bound, ``value <= trivial`` for a lower bound. Defaults: ``inf`` (upper), ``0`` (lower).
    reference : callable, optional
        A helper giving an exact value or an expected scale of the quantity (not a bound), documented in
        ``notes``.
    example : mapping, optional
        Parameter values for a demo or a smoke test.
    reconstructed : mapping name -> str, optional
        The constants (parameters) whose value the theory page marks RECON or not found, each with that
        status in words (e.g. ``{"c_eps": "not found"}``). A verdict that uses the bound names them with
        their values (:meth:`reconstructed_constants`).

    Notes
    -----
    ``evaluate`` validates every parameter against its :class:`Parameter` domain (error messages name the
    parameter), broadcasts array parameters like numpy and always returns a float64 array (0-d for scalar
    inputs). It does not clip vacuous values: a lower bound may be negative and an upper bound may exceed
    the trivial value; use :meth:`is_vacuous` to judge. Calling a bound, ``b(**params)``, is ``evaluate``.
    """

    id: str
    title: str
    citation: str
    quantity: str
    direction: Literal["upper", "lower"]
    function: Callable[..., Any] = field(repr=False)
    formula: str = ""
    parameters: tuple[Parameter, ...] = field(default=(), repr=False)
    conditions: Mapping[str, Condition] = field(default_factory=dict, repr=False)
    failure_probability: float | Callable[..., Any] = field(default=0.0, repr=False)
    constants: Mapping[str, Any] = field(default_factory=dict, repr=False)
    status: Literal["derived", "found", "recon"] = "derived"
    estimator: str = ""
    probability_over: str = "(a, W0)"
    notes: str = field(default="", repr=False)
    trivial: float | Callable[..., Any] | None = field(default=None, repr=False)
    reference: Callable[..., Any] | None = field(default=None, repr=False)
    example: Mapping[str, Any] = field(default_factory=dict, repr=False)
    reconstructed: Mapping[str, str] = field(default_factory=dict, repr=False)
    _defaults: Mapping[str, Any] = field(init=False, repr=False)
    _by_name: Mapping[str, Parameter] = field(init=False, repr=False)

    def __post_init__(self):
        def bad(msg):
            return ValueError(f"Bound {self.id!r}: {msg}")

        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise ValueError(f"Bound id must be a name of letters, digits, '_' and '.', got {self.id!r}")
        check_choice(self.direction, "direction", DIRECTIONS)
        check_choice(self.status, "status", STATUSES)
        for name in ("title", "citation", "quantity", "formula"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise bad(f"{name} must be a non-empty string")
        if not callable(self.function):
            raise bad("function must be callable")
        if not (callable(self.failure_probability) or isinstance(self.failure_probability, (int, float))):
            raise bad("failure_probability must be a number or a callable")
        if isinstance(self.failure_probability, (int, float)) and not 0 <= self.failure_probability <= 1:
            raise bad(f"failure_probability must be in [0, 1], got {self.failure_probability}")
        sig = inspect.signature(self.function)
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
                raise bad("function must take its parameters by keyword (no *args, no positional-only)")
        declared = {p.name: p for p in _as_parameters(self.parameters)}
        if len(declared) != len(_as_parameters(self.parameters)):
            raise bad("duplicate parameter names")
        defaults: dict[str, Any] = {}
        ordered: dict[str, Parameter] = {}
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                continue
            spec = declared.pop(p.name, None)
            has_default = p.default is not inspect.Parameter.empty
            if spec is None:
                spec = Parameter(p.name, optional=has_default and p.default is None)
            if has_default:
                defaults[p.name] = p.default
            ordered[p.name] = spec
        for name, spec in declared.items():      # parameters used by failure_probability / conditions only
            ordered[name] = spec
            if spec.optional:
                defaults.setdefault(name, None)
        constants = dict(self.constants)
        for name, value in constants.items():
            if name not in ordered:
                raise bad(f"constant {name!r} is not a parameter of the bound")
            defaults[name] = value
        for name, spec in ordered.items():
            if spec.optional:
                defaults.setdefault(name, None)
        object.__setattr__(self, "parameters", tuple(ordered.values()))
        object.__setattr__(self, "_by_name", MappingProxyType(ordered))
        object.__setattr__(self, "_defaults", MappingProxyType(defaults))
        object.__setattr__(self, "constants", MappingProxyType(constants))
        object.__setattr__(self, "conditions", _as_conditions(self.conditions))
        object.__setattr__(self, "example", MappingProxyType(dict(self.example)))
        reconstructed = dict(self.reconstructed)
        for name, status in reconstructed.items():
            if name not in ordered:
                raise bad(f"reconstructed constant {name!r} is not a parameter of the bound")
            if not isinstance(status, str) or not status.strip():
                raise bad(f"reconstructed constant {name!r}: give its status in words, e.g. 'not found'")
        object.__setattr__(self, "reconstructed", MappingProxyType(reconstructed))
        if not self.notes:
            object.__setattr__(self, "notes", inspect.getdoc(self.function) or "")
        if self.trivial is not None and not callable(self.trivial):
            object.__setattr__(self, "trivial", float(self.trivial))

    # -- parameters -----------------------------------------------------------------------------------
    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names accepted by :meth:`evaluate`, in order."""
        return tuple(self._by_name)

    @property
    def required(self) -> tuple[str, ...]:
        """Names that :meth:`evaluate` needs (no default, not optional)."""
        return tuple(n for n in self._by_name if n not in self._defaults)

    @property
    def assumptions(self) -> tuple[Condition, ...]:
        """Conditions that cannot be checked from the parameters (``check is None``)."""
        return tuple(c for c in self.conditions.values() if c.check is None)

    def _resolve(self, params: Mapping[str, Any], *, partial: bool = False) -> tuple[dict, tuple]:
        unknown = sorted(set(params) - set(self._by_name))
        if unknown:
            raise TypeError(f"{self.id}: unknown parameter(s) {', '.join(unknown)}; "
                            f"this bound accepts {', '.join(self._by_name)}")
        values = dict(self._defaults)
        values.update(params)
        missing = [n for n in self._by_name if n not in values]
        if missing and not partial:
            details = "; ".join(f"{n} ({self._by_name[n].requirement()})" for n in missing)
            raise TypeError(f"{self.id}: missing required parameter(s): {details}")
        resolved = {name: spec.validate(values[name]) for name, spec in self._by_name.items() if name in values}
        shapes = [v.shape for v in resolved.values() if isinstance(v, np.ndarray)]
        try:
            shape = np.broadcast_shapes(*shapes) if shapes else ()
        except ValueError:
            desc = ", ".join(f"{n}{v.shape}" for n, v in resolved.items() if isinstance(v, np.ndarray))
            raise ValueError(f"{self.id}: parameter shapes do not broadcast: {desc}") from None
        return resolved, shape

    @staticmethod
    def _finish(out, shape) -> np.ndarray:
        out = np.asarray(out, dtype=np.float64)
        return np.array(np.broadcast_to(out, np.broadcast_shapes(out.shape, shape)), dtype=np.float64)

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, **params) -> np.ndarray:
        """The bound's value, broadcast over array parameters.

        Parameters
        ----------
        **params
            The bound's parameters (see :attr:`parameter_names`, :attr:`constants`), scalars or arrays.

        Returns
        -------
        ndarray of float64, shape = the broadcast shape of the array parameters (0-d for scalars)
        """
        resolved, shape = self._resolve(params)
        return self._finish(_call_with(self.function, resolved), shape)

    __call__ = evaluate

    def failure(self, **params) -> np.ndarray:
        """The failure probability at these parameters (same broadcasting as :meth:`evaluate`)."""
        resolved, shape = self._resolve(params)
        fp = self.failure_probability
        out = _call_with(fp, resolved) if callable(fp) else fp
        return self._finish(out, shape)

    def trivial_value(self, **params) -> np.ndarray:
        """The value the quantity always satisfies (``inf`` / ``0`` when none is declared).

        Only the parameters the trivial value depends on are needed (e.g. ``m`` for a neuron count).
        """
        resolved, shape = self._resolve(params, partial=True)
        if self.trivial is None:
            return self._finish(math.inf if self.direction == "upper" else 0.0, shape)
        if not callable(self.trivial):
            return self._finish(self.trivial, shape)
        names, varkw = _accepted_names(self.trivial)
        missing = sorted(n for n in names if n not in resolved)
        if missing:
            raise TypeError(f"{self.id}: the trivial value needs parameter(s) {', '.join(missing)}")
        return self._finish(_call_with(self.trivial, resolved), shape)

    def is_vacuous(self, value, **params) -> np.ndarray:
        """Whether a bound value says nothing beyond the trivial value.

        Lower bounds: ``value <= trivial`` (default 0). Upper bounds: ``value >= trivial`` (default inf, so
        only infinite values; a probability's trivial value is 1, a count of ``m`` neurons has ``m``).
        NaN is vacuous. Pass the parameters when the trivial value depends on them (e.g. ``m``).

        Returns
        -------
        ndarray of bool, broadcast of ``value`` and the parameters
        """
        value = _float_array(value, "value", allow_nonfinite=True)
        triv = self.trivial_value(**params)
        if self.direction == "lower":
            return ~(value > triv)
        return ~(value < triv)

    def reconstructed_constants(self, **params) -> dict[str, tuple[Any, str]]:
        """The reconstructed / not-found constants with the values used: ``{name: (value, status)}``.

        ``params`` are the values passed to :meth:`evaluate` (a constant not among them has its default).
        Pass the result as ``constants=`` to :func:`boundcheck.checks.compare_to_bound`, so that the
        verdict line names each constant and its value.
        """
        out = {}
        for name, status in self.reconstructed.items():
            value = params.get(name, self._defaults.get(name))
            if isinstance(value, np.ndarray) and value.ndim == 0:
                value = value.item()
            out[name] = (value, status)
        return out

    def check_conditions(self, **params) -> dict[str, np.ndarray | None]:
        """Check each condition at these parameters.

        Returns
        -------
        dict name -> bool array (True where the condition holds) or None (cannot be checked here: an
        assumption about how the inputs were obtained, or a parameter it needs was not given)
        """
        resolved, shape = self._resolve(params)
        out: dict[str, np.ndarray | None] = {}
        for name, cond in self.conditions.items():
            if cond.check is None:
                out[name] = None
                continue
            res = _call_with(cond.check, resolved)
            out[name] = None if res is None else np.array(
                np.broadcast_to(np.asarray(res, dtype=bool), np.broadcast_shapes(np.shape(res), shape)))
        return out

    def failed_conditions(self, **params) -> tuple[str, ...]:
        """Names of the checkable conditions that fail for at least one element of the parameters."""
        return tuple(name for name, ok in self.check_conditions(**params).items()
                     if ok is not None and not bool(np.all(ok)))

    # -- text -----------------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: id, status, direction and formula."""
        return f"{self.id} [{self.status}, {self.direction}]: {self.formula}"

    def describe(self) -> str:
        """A multi-line description: citation, quantity, formula, parameters, constants, conditions, notes."""
        lines = [f"{self.id}: {self.title}",
                 f"  citation: {self.citation}",
                 f"  status: {self.status}    direction: {self.direction}",
                 f"  quantity: {self.quantity}" + (f"    (estimator: {self.estimator})" if self.estimator else ""),
                 f"  formula: {self.formula}",
                 f"  probability over: {self.probability_over}"]
        lines.append("  parameters:")
        for p in self.parameters:
            default = ""
            if p.name in self._defaults:
                default = f" = {self._defaults[p.name]!r}"
            lines.append(f"    {p.name}{default}: {p.requirement()}" + (f"; {p.description}" if p.description else ""))
        if self.constants:
            lines.append("  constants: " + ", ".join(f"{k} = {v!r}" for k, v in self.constants.items()))
        if self.conditions:
            lines.append("  conditions:")
            for c in self.conditions.values():
                tag = c.kind + ("" if c.check is not None else ", assumption")
                lines.append(f"    {c.name} ({tag}): {c.description}")
        if self.notes:
            lines.append("  notes:")
            lines.extend("    " + ln for ln in self.notes.splitlines())
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------------------------

_REGISTRY: dict[str, Bound] = {}

#: Read-only view id -> :class:`Bound` of every registered bound.
registry: Mapping[str, Bound] = MappingProxyType(_REGISTRY)


def register(bound: Bound, *, replace: bool = False) -> Bound:
    """Add ``bound`` to the registry and return it.

    Parameters
    ----------
    bound : Bound
    replace : bool
        Allow replacing an entry with the same id (default False: duplicates are refused).

    Raises
    ------
    TypeError
        ``bound`` is not a :class:`Bound`.
    ValueError
        An entry with the same id exists and ``replace`` is False.
    """
    if not isinstance(bound, Bound):
        raise TypeError(f"register expects a Bound, got {type(bound).__name__}")
    old = _REGISTRY.get(bound.id)
    if old is not None and old is not bound and not replace:
        raise ValueError(
            f"a bound with id {bound.id!r} is already registered ({old.citation}: {old.title}); "
            "choose another id, or pass replace=True to overwrite it")
    _REGISTRY[bound.id] = bound
    return bound


def unregister(id: str) -> Bound:
    """Remove and return the entry ``id`` (KeyError, listing the ids, if there is none)."""
    bound = get(id)
    del _REGISTRY[id]
    return bound


def get(id: str) -> Bound:
    """The registered bound with this id.

    Raises
    ------
    KeyError
        No such id; the message lists close matches and every available id.
    """
    try:
        return _REGISTRY[id]
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(str(id), list(_REGISTRY), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    available = ", ".join(sorted(_REGISTRY)) or "(none)"
    raise KeyError(f"no bound with id {id!r}.{hint} Available ids: {available}")


def list_bounds(*, status: str | Iterable[str] | None = None, direction: str | None = None,
                prefix: str | None = None) -> tuple[Bound, ...]:
    """The registered bounds in registration order, optionally filtered.

    Parameters
    ----------
    status : str or iterable of str, optional
        Keep these statuses (``"derived"``, ``"found"``, ``"recon"``).
    direction : {"upper", "lower"}, optional
    prefix : str, optional
        Keep ids starting with this (e.g. ``"lemma_B7"``).
    """
    statuses = None
    if status is not None:
        statuses = {status} if isinstance(status, str) else set(status)
        for s in statuses:
            check_choice(s, "status", STATUSES)
    if direction is not None:
        check_choice(direction, "direction", DIRECTIONS)
    return tuple(b for b in _REGISTRY.values()
                 if (statuses is None or b.status in statuses)
                 and (direction is None or b.direction == direction)
                 and (prefix is None or b.id.startswith(prefix)))


def register_bound(*, title: str, citation: str, quantity: str, direction: str, formula: str,
                   id: str | None = None, replace: bool = False, **fields) -> Callable[[Callable], Bound]:
    """Decorator: turn one function into a registered :class:`Bound`.

    The decorated function is the evaluator; its arguments are the bound's parameters (declare their
    domains with ``parameters=[Parameter(...)]``; undeclared ones must be finite reals). The id defaults
    to the function's name and the notes to its docstring. Returns the :class:`Bound`, which is callable.

    Parameters
    ----------
    title, citation, quantity, direction, formula : str
        As in :class:`Bound`.
    id : str, optional
        Defaults to the function's ``__name__``.
    replace : bool
        Passed to :func:`register`.
    **fields
        Any other :class:`Bound` field (``parameters``, ``conditions``, ``failure_probability``,
        ``constants``, ``status``, ``estimator``, ``probability_over``, ``notes``, ``trivial``,
        ``reference``, ``example``).

    Examples
    --------
    >>> import numpy as np
    >>> from boundcheck.bounds import register_bound, Parameter, unregister
    >>> @register_bound(title="Gaussian max", citation="folklore", quantity="max_i |X_i|",
    ...                 direction="upper", formula="sqrt(2 log(2n/gamma))",
    ...                 parameters=[Parameter("gamma", lower=0, upper=1, lower_open=True, upper_open=True)],
    ...                 failure_probability=lambda gamma: gamma)
    ... def my_gaussian_max(n, gamma):
    ...     return np.sqrt(2 * np.log(2 * n / gamma))
    >>> round(float(my_gaussian_max(n=10, gamma=0.1)), 4)
    3.2552
    >>> _ = unregister("my_gaussian_max")
    """
    def decorator(fn: Callable) -> Bound:
        bound = Bound(id=id or fn.__name__, title=title, citation=citation, quantity=quantity,
                      direction=direction, function=fn, formula=formula, **fields)
        return register(bound, replace=replace)

    return decorator
