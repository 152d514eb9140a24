"""The target model's tokenizer, loaded offline, and token counting with a fallback.

:func:`load_tokenizer` loads the base model's tokenizer (``config.train.base_model``, else
``models.base_model``) from a local folder or from the Hugging Face cache; it never downloads. Without
one, :func:`count_tokens` counts with tiktoken's ``cl100k_base``, read from the copy litellm ships inside
its package (no network, and litellm itself is not imported), and if that is missing too, estimates with
a regex word-piece count (about 1.3 pieces per word, like BPE on English prose).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import re
import threading
from pathlib import Path
from typing import Any, Sequence

_LOCK = threading.Lock()
_TOKENIZERS: dict[str, Any] = {}  # name -> tokenizer, or None when it could not be loaded offline
_FALLBACK: list[Any] = []  # [tiktoken.Encoding | None], once resolved

# tiktoken's cl100k_base, exactly as tiktoken_ext.openai_public defines it.
CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of its download URL: the cache file name
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
_PIECE = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")


def base_model_name(project: Any) -> str | None:
    """The configured base model (config.train.base_model, else models.base_model), or None."""
    meta = project.meta
    name = meta.config.train.base_model or meta.models.base_model
    return name.strip() if name and name.strip() else None


def load_tokenizer(project: Any) -> Any | None:
    """The base model's tokenizer, from a local path or the local Hugging Face cache; None when there is
    no base model or it is not available offline. Loaded once per process per name."""
    name = base_model_name(project)
    return load_tokenizer_named(name) if name else None


def load_tokenizer_named(name: str) -> Any | None:
    with _LOCK:
        if name in _TOKENIZERS:
            return _TOKENIZERS[name]
    tok = None
    try:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            if Path(name).expanduser().exists():
                tok = AutoTokenizer.from_pretrained(str(Path(name).expanduser()), local_files_only=True)
            else:  # a Hub id: only if it is already in the local cache
                tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
        finally:
            hf_logging.set_verbosity(verbosity)
    except Exception:
        tok = None
    with _LOCK:
        _TOKENIZERS[name] = tok
    return tok


THREADED_BATCH = 1000  # texts from which tiktoken's threaded batch encoding pays off


def fallback_encoding() -> Any | None:
    """tiktoken's cl100k_base from litellm's bundled copy, or None when either is missing."""
    with _LOCK:
        if _FALLBACK:
            return _FALLBACK[0]
        enc = None
        try:
            import tiktoken

            spec = importlib.util.find_spec("litellm")
            for folder in (spec.submodule_search_locations or []) if spec else []:
                path = Path(folder) / "litellm_core_utils" / "tokenizers" / CL100K_FILE
                if not path.is_file():
                    continue
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
                    continue
                ranks = {}
                for line in data.splitlines():
                    if line:
                        token, rank = line.split()
                        ranks[base64.b64decode(token)] = int(rank)
                enc = tiktoken.Encoding(name="cl100k_base", pat_str=CL100K_PAT, mergeable_ranks=ranks,
                                        special_tokens=CL100K_SPECIAL)
                break
        except Exception:
            enc = None
        _FALLBACK.append(enc)
        return enc


def estimate_tokens(text: str) -> int:
    """A rough count without any tokenizer: word pieces (letters, up to 3 digits, each symbol), with
    long words split in pieces of ~4 letters as BPE does."""
    n = 0
    for piece in _PIECE.findall(text):
        n += 1 + (len(piece) - 1) // 6 if piece[0].isalpha() else 1
    return n


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Tokens in ``text`` (no special tokens): the tokenizer's count, else cl100k_base, else an estimate."""
    return count_tokens_many([text], tokenizer)[0]


def count_tokens_many(texts: Sequence[str], tokenizer: Any = None) -> list[int]:
    """:func:`count_tokens` for many texts at once (one batched call to a fast tokenizer)."""
    texts = [t or "" for t in texts]
    if not texts:
        return []
    if tokenizer is not None:
        try:
            ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
            return [len(x) for x in ids]
        except Exception:
            pass
    enc = fallback_encoding()
    if enc is not None:
        if len(texts) < THREADED_BATCH:  # tiktoken starts a thread pool per batch call: slower for a few texts
            return [len(enc.encode_ordinary(t)) for t in texts]
        return [len(x) for x in enc.encode_ordinary_batch(list(texts), num_threads=min(8, os.cpu_count() or 1))]
    return [estimate_tokens(t) for t in texts]


def counter_name(tokenizer: Any = None) -> str:
    """What :func:`count_tokens` uses with ``tokenizer``: for reports."""
    if tokenizer is not None:
        return getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    return "cl100k_base (litellm's bundled tiktoken file)" if fallback_encoding() is not None else "regex estimate"
