"""Atomic, validated reads and writes of project files (TOML and Parquet).

Every file carries ``schema_version``. A read validates the whole file against a pydantic model;
any fault becomes a :class:`StoreError` that names the file and the field, and nothing is rewritten.
Every write goes to a temporary file in the same folder, is fsynced, then renamed over the target.
"""

from __future__ import annotations

import os
import socket
import tempfile
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import BaseModel, ValidationError

from core.errors import StoreError

SCHEMA_VERSION = 1
M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------- atomic bytes


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)  # mkstemp makes 0600 files; a shared project needs the umask's mode
        except OSError:
            pass
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _new_file_mode(path: Path) -> int:
    """The mode a write gives ``path``: the mode of the file it replaces, else what open() would give a new
    file (0666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, then restore it at once
    os.umask(mask)
    return mask


def process_gone(pid: int, host: str | None) -> bool:
    """Whether process ``pid`` of ``host`` is known to have ended: only on this host (another host's
    process cannot be told, and is taken as alive)."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- validation errors


def _field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def validation_error(path: Path, exc: ValidationError, prefix: str = "") -> StoreError:
    first = exc.errors()[0]
    field = _field_name(tuple(first["loc"]))
    if prefix:
        field = f"{prefix}{field}"
    msg = first["msg"]
    if "input" in first and first["type"] not in ("missing",):
        shown = repr(first["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg += f" (got {shown})"
    more = len(exc.errors()) - 1
    if more:
        msg += f"; {more} more problem{'s' if more > 1 else ''} in this file"
    return StoreError(path, msg, field or None)


def check_schema_version(path: Path, value: Any, supported: int = SCHEMA_VERSION) -> None:
    if value is None:
        raise StoreError(path, "missing; every tunesmith file starts with schema_version", "schema_version")
    if not isinstance(value, int) or isinstance(value, bool):
        raise StoreError(path, f"must be an integer (got {value!r})", "schema_version")
    if value != supported:
        newer = "a newer" if value > supported else "an older"
        raise StoreError(
            path,
            f"unknown version {value}; this tunesmith reads version {supported} "
            f"(the file was written by {newer} tunesmith)",
            "schema_version",
        )


# ---------------------------------------------------------------- TOML


def _strip_none(value: Any) -> Any:
    """TOML has no null: drop None values (models give them defaults again on read)."""
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value if v is not None]
    return value


def dump_toml(model: BaseModel) -> str:
    data = model.model_dump(mode="json")
    data.pop("schema_version", None)
    body = {"schema_version": SCHEMA_VERSION, **_strip_none(data)}
    return tomli_w.dumps(body)


def write_toml(path: Path, model: BaseModel) -> None:
    atomic_write_text(path, dump_toml(model))


def load_toml_dict(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(path, "file not found") from None
    except OSError as exc:
        raise StoreError(path, f"cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(path, f"is not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StoreError(path, f"is not valid TOML: {exc}") from None


def read_toml(path: Path, model: type[M]) -> M:
    path = Path(path)
    data = load_toml_dict(path)
    check_schema_version(path, data.pop("schema_version", None))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(path, exc) from None


# ---------------------------------------------------------------- Parquet

_META_KEY = b"tunesmith.schema_version"


def write_parquet(path: Path, rows: list[BaseModel] | list[dict[str, Any]], model: type[BaseModel] | None = None) -> None:
    """Write rows (models or dicts) to a Parquet file atomically, with schema_version in its metadata."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [r.model_dump(mode="json") if isinstance(r, BaseModel) else dict(r) for r in rows]
    if records:
        table = pa.Table.from_pylist(records)
    elif model is not None:
        table = pa.Table.from_pylist([], schema=_arrow_schema(model))
    else:
        table = pa.table({})
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = str(SCHEMA_VERSION).encode()
    table = table.replace_schema_metadata(meta)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def _arrow_schema(model: type[BaseModel]):
    import pyarrow as pa

    fields = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        typ = pa.string()
        if ann in (int,):
            typ = pa.int64()
        elif ann in (float,):
            typ = pa.float64()
        elif ann in (bool,):
            typ = pa.bool_()
        fields.append(pa.field(name, typ))
    return pa.schema(fields)


def read_parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise StoreError(path, "file not found")
    try:
        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata or {}
        table = pf.read()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise StoreError(path, f"is not a readable Parquet file ({exc.__class__.__name__}: {exc})") from None
    raw = meta.get(_META_KEY)
    version: Any = None
    if raw is not None:
        try:
            version = int(raw.decode())
        except ValueError:
            version = raw.decode(errors="replace")
    check_schema_version(path, version)
    return table.to_pylist()


def read_parquet(path: Path, model: type[M]) -> list[M]:
    path = Path(path)
    out: list[M] = []
    for i, row in enumerate(read_parquet_rows(path)):
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            raise validation_error(path, exc, prefix=f"row {i}: ") from None
    return out


# ---------------------------------------------------------------- caches


def open_sqlite(path: Path, create_table: str):
    """A SQLite connection for a cache file under .cache/: WAL, shared across threads (callers lock),
    autocommit, with ``create_table`` (a CREATE TABLE IF NOT EXISTS statement) applied."""
    import sqlite3

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(create_table)
    return db
