"""Strict reads of the hand-editable artifacts that a command reads, edits and writes back.

``Project.read`` validates leniently: a field left out takes its default and ``approved = "yes"`` becomes
``True``. For a file a command is about to write back that loses the hand edit (the file is rewritten with
the default in place of what the person meant), so these reads require every field the file's model has
(one that may be unset, a ``None`` default, excepted: TOML has no null) and the exact TOML types (no
coercion), and fail like every store error: the file and the field named, exit code 2, nothing written.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import date, datetime, time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core import store
from core.errors import StoreError

M = TypeVar("M", bound=BaseModel)


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _nested(annotation: Any, value: Any, here: str) -> list[tuple[type[BaseModel], Any, str]]:
    """The (model, value, where) pairs a field holds: ``X``, ``X | None``, ``list[X]``, ``dict[str, X]``."""
    if _is_model(annotation):
        return [(annotation, value, f"{here}.")]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and isinstance(value, list):
        return [(a, v, f"{here}[{i}].") for a in args if _is_model(a) for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict) and len(args) == 2 and _is_model(args[1]):
        return [(args[1], v, f"{here}.{k}.") for k, v in value.items()]
    if origin is typing.Union or origin is types.UnionType:  # X | None, X | Y: the first that holds models
        for a in args:
            found = _nested(a, value, here) if a is not type(None) else []
            if found:
                return found
    return []


def missing_field(data: Any, model: type[BaseModel], where: str = "") -> str | None:
    """The first field of ``model`` (dotted, with list indexes) that ``data`` leaves out, or None."""
    if not isinstance(data, dict):
        return None  # a wrong type: validation names it
    for name, info in model.model_fields.items():
        key = info.alias or name
        here = f"{where}{key}"
        if key not in data:
            if info.is_required() or info.default is not None or info.default_factory is not None:
                return here
            continue
        for sub, value, at in _nested(info.annotation, data[key], here):
            found = missing_field(value, sub, at)
            if found:
                return found
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def validate_strict(path: Any, data: dict[str, Any], model: type[M]) -> M:
    """``model`` from a file's parsed TOML (schema_version already removed), every field present, no coercion."""
    field = missing_field(data, model)
    if field:
        raise StoreError(path, "missing; every field of this file must be there (write the default value "
                               "if you mean it)", field)
    try:
        # JSON mode so that a datetime written as a string is still read; strict so that nothing is coerced
        return model.model_validate_json(json.dumps(data, default=_jsonable), strict=True)
    except ValidationError as exc:
        raise store.validation_error(path, exc) from None


def read_strict(project: Any, rel: str, model: type[M]) -> M:
    path = project.path(rel)
    data = store.load_toml_dict(path)
    store.check_schema_version(path, data.pop("schema_version", None))
    return validate_strict(path, data, model)


def read_strict_or(project: Any, rel: str, model: type[M]) -> M | None:
    """Like :func:`read_strict`; None when the file does not exist (a directory in its place is an error)."""
    path = project.path(rel)
    if not path.exists() and not path.is_symlink():
        return None
    return read_strict(project, rel, model)
