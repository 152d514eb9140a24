"""core.embed: the bundled model, the vector cache and the vectorised similarity helpers."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import embed
from core.embed import Embedder, max_similarity, near_duplicate_groups, select_diverse


@pytest.fixture(scope="module")
def model():
    """Load the bundled model once for the module."""
    return embed.load_model(embed.BUNDLED)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_core_import_does_not_load_torch() -> None:
    import subprocess

    code = "import core.embed, sys; print('sentence_transformers' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_model_name_precedence(monkeypatch: pytest.MonkeyPatch, projects_root: Path) -> None:
    from core.project import Project

    p = Project.create("Emb", "t", root=projects_root)
    monkeypatch.delenv(embed.ENV_MODEL, raising=False)
    assert embed.model_name(p) == embed.BUNDLED
    p.meta.models.embedding_model = "some/model"
    assert embed.model_name(p) == "some/model"
    monkeypatch.setenv(embed.ENV_MODEL, "/models/other")
    assert embed.model_name(p) == "/models/other"
    assert Embedder.for_project(p).cache.path == p.cache_dir / "embeddings" / "vectors.sqlite3"


def test_encode_normalised_and_semantic(model, tmp_path: Path) -> None:
    e = Embedder(cache_dir=tmp_path)
    v = e.encode(["How do I reset my password?", "how can I reset my password", "Best soil for tomatoes?"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] >= 0.92 > sims[0, 2]
    assert e.encode([]).shape == (0, 384)


def test_cache_hits_skip_the_model(model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["alpha beta", "gamma delta", "alpha beta"]
    first = Embedder(cache_dir=tmp_path).encode(texts)
    assert np.allclose(first[0], first[2])
    fresh = Embedder(cache_dir=tmp_path)
    assert len(fresh.cache) == 2  # identical texts are stored once
    monkeypatch.setattr(fresh, "_encode", lambda _t: pytest.fail("cached texts must not be re-encoded"))
    assert np.array_equal(fresh.encode(texts), first)
    # a different model is a different key
    assert embed.text_key("m1", "x") != embed.text_key("m2", "x")


def test_near_duplicate_groups_are_components() -> None:
    rng = np.random.default_rng(0)
    v = _unit(rng.normal(size=(50, 32)))
    v[10] = v[3]
    v[20] = _unit((v[3] + 0.01 * rng.normal(size=32))[None])[0]
    v[30] = v[7]
    groups = near_duplicate_groups(v, 0.92)
    assert groups == [[3, 10, 20], [7, 30]]
    assert near_duplicate_groups(np.zeros((0, 8), np.float32), 0.9) == []


def test_max_similarity_and_select_diverse() -> None:
    rng = np.random.default_rng(1)
    kept = _unit(rng.normal(size=(5, 16)))
    new = np.vstack([kept[2], _unit(rng.normal(size=(1, 16)))[0], kept[2]])
    m = max_similarity(new, kept)
    assert m[0] == pytest.approx(1.0, abs=1e-5) and m[1] < 0.92
    assert np.all(max_similarity(new, np.zeros((0, 16), np.float32)) == -1.0)
    mask = select_diverse(new, 0.92)
    assert mask.tolist() == [True, True, False]
    assert select_diverse(new, 0.92, kept=kept).tolist() == [False, True, False]


@pytest.mark.slow
def test_helpers_scale_to_ten_thousand() -> None:
    rng = np.random.default_rng(2)
    v = _unit(rng.normal(size=(10_000, 384)))
    v[9_999] = v[5]
    started = time.perf_counter()
    assert near_duplicate_groups(v, 0.92) == [[5, 9_999]]
    mask = select_diverse(v, 0.92)
    assert mask.sum() == 9_999 and not mask[9_999]
    assert max_similarity(v[:100], v[100:]).shape == (100,)
    assert time.perf_counter() - started < 20
