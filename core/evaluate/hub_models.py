"""Hugging Face Hub models for evaluation: found in the local cache, else downloaded.

Hub models: the cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``) is looked at
first, with ``local_files_only``; a complete copy there (config, weights and every shard the index names) is
used as it is, without the network. A training run's own Hub model is checked against the Hub first when the
network is there (the same repo may have been pushed again by a later run). Otherwise the files transformers
needs (:data:`HUB_FILES`: config, generation config, tokenizer files, chat template, adapter config, and the
safetensors weights, else the ``.bin`` ones) are downloaded with ``huggingface_hub.snapshot_download`` into
that cache, a line of progress per file (and every few seconds for big files). Without the network
(``HF_HUB_OFFLINE``, a connection error) a model that is not cached is a :class:`ModelUnavailable` error that
says exactly how to get it here. A gated or private model needs ``HF_TOKEN`` (or ``hf auth login``); the token
is read by huggingface_hub and never printed or stored here. ``HF_ENDPOINT`` points at another Hub.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

from core.errors import TunesmithError

Progress = Callable[[str], None]
HUB_PREFIX = "hf:"


class InferenceError(TunesmithError):
    """A model could not be loaded or run; the message says which and why."""


class ModelUnavailable(InferenceError):
    """A Hub model is not on this machine and cannot be downloaded now (offline, gated, private, not found);
    the message says exactly what to do."""


class ModelNotFound(InferenceError):
    """A spec names neither an existing folder nor a valid Hub id (bad input: exit 2)."""

    exit_code = 2


# What transformers (and peft) need to load a causal LM from a Hub repo; no nested folders (original/, onnx/,
# gguf variants), no training state. Weights: the safetensors files, else (an older repo) the .bin ones.
HUB_FILES = (
    "config.json", "generation_config.json", "adapter_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "tokenizer.model", "spiece.model", "vocab.json", "merges.txt", "vocab.txt",
    "chat_template.jinja", "chat_template.json", "tunesmith_run.json",
)
SAFETENSORS_FILES = ("model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json",
                     "adapter_model.safetensors")
BIN_FILES = ("pytorch_model.bin", "pytorch_model-*-of-*.bin", "pytorch_model.bin.index.json", "adapter_model.bin")
HUB_ID_RE = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
BYTES_EVERY_S = 5.0  # a progress line about bytes at most this often (per file count lines: every file)


def split_hub_id(model: str) -> tuple[str, str | None]:
    """("org/name", revision or None) of a Hub model id, ``org/name@revision`` included."""
    repo, _, revision = model.removeprefix(HUB_PREFIX).strip().partition("@")
    return repo, (revision.strip() or None)


def is_hub_id(repo: str) -> bool:
    return bool(HUB_ID_RE.match(repo)) and "--" not in repo and ".." not in repo and not repo.endswith((".", "-"))


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps models: HF_HUB_CACHE, else $HF_HOME/hub, else its default (read now, so a
    test or a wrapper may point it elsewhere after the import)."""
    env = os.environ
    if (env.get("HF_HUB_CACHE") or "").strip():
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if (env.get("HF_HOME") or "").strip():
        return Path(env["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return ((os.environ.get("HF_ENDPOINT") or "").strip() or constants.ENDPOINT).rstrip("/")


def _env_true(name: str) -> bool:
    return (os.environ.get(name) or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_offline() -> bool:
    """huggingface_hub's offline mode (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE when it was imported), or
    HF_HUB_OFFLINE set since."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode()) or _env_true("HF_HUB_OFFLINE")


def _offline_reason() -> str:
    if not _env_true("HF_HUB_OFFLINE") and _env_true("TRANSFORMERS_OFFLINE"):
        return "TRANSFORMERS_OFFLINE is set"
    return "HF_HUB_OFFLINE is set"


def _has_token() -> bool:
    try:
        from huggingface_hub import get_token

        return get_token() is not None
    except Exception:  # noqa: BLE001 - only says whether a hint mentions the token
        return False


def weights_complete(folder: Path) -> bool:
    """A config (or adapter config) and weights, every shard an index names included."""
    if not ((folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()):
        return False
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, AttributeError):
                return False
            return bool(shards) and all((folder / s).is_file() for s in shards)
    return any((folder / n).is_file() for n in ("model.safetensors", "adapter_model.safetensors",
                                                 "pytorch_model.bin", "adapter_model.bin"))


def _size(n: float | None) -> str:
    if n is None:
        return "? B"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _cached(repo: str, revision: str | None, cache: Path) -> Path | None:
    """The complete cached snapshot of ``repo`` (no network), else None. Complete is :func:`weights_complete`:
    huggingface_hub's own check would call a download of the safetensors weights alone incomplete when the repo
    also has ``.bin`` ones."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError

    try:
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=cache, local_files_only=True,
                                        allow_patterns=[*HUB_FILES, *SAFETENSORS_FILES, *BIN_FILES]))
    except IncompleteSnapshotError as exc:
        if not getattr(exc, "snapshot_path", None):
            return None
        folder = Path(exc.snapshot_path)
    except Exception:  # noqa: BLE001 - not there, unreadable: not cached
        return None
    return folder if weights_complete(folder) else None


def _progress_bars(say: Progress, repo: str, quiet: bool = False) -> type:
    """A tqdm class for snapshot_download that draws nothing and reports through ``say``: a line per file
    fetched, and the bytes so far every :data:`BYTES_EVERY_S` seconds (``quiet``: nothing, every file is
    cached already)."""
    from tqdm import tqdm as _tqdm

    class _Nowhere:
        def write(self, _s: str) -> None:
            pass

        def flush(self) -> None:
            pass

    class Lines(_tqdm):  # type: ignore[misc, valid-type]
        monitor_interval = 0  # no monitor thread

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs.update(disable=False, file=_Nowhere())
            super().__init__(*args, **kwargs)
            self._said = time.monotonic()

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            if quiet:
                return out
            if self.unit == "B":
                if str(self.desc or "").startswith("Downloading bytes"):  # Xet network bytes: one bar is enough
                    return out
                now = time.monotonic()
                if now - self._said >= BYTES_EVERY_S and self.n:
                    self._said = now
                    say(f"downloading {repo}: {_size(self.n)}" + (f" of {_size(self.total)}" if self.total else ""))
            elif self.total:
                say(f"downloading {repo}: {int(self.n)}/{int(self.total)} files")
            return out

    Lines.set_lock(threading.RLock())  # no multiprocessing lock (it forks a resource tracker)
    return Lines


def _unreachable(repo: str, why: str, cache: Path, partial: bool = False) -> ModelUnavailable:
    where = "only partly in" if partial else "not in"
    offline = next((v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if v in why), None)
    return ModelUnavailable(
        f"model {repo} is {where} the local Hugging Face cache ({cache}) and the Hub cannot be reached ({why}). "
        f"To evaluate it: on a machine with network run `hf download {repo}` (older huggingface_hub: "
        f"`huggingface-cli download {repo}`) and copy its Hugging Face cache (~/.cache/huggingface/hub) to {cache} "
        f"here; or download it into a folder (`hf download {repo} --local-dir DIR`) and pass that folder "
        f"(--base DIR or --candidate DIR); or serve it with an OpenAI-compatible server (vLLM, Ollama, llama.cpp) "
        f"and pass --base/--candidate openai:<model>@http://host:port/v1"
        + (f"; with the network back, unset {offline} and run again: tunesmith downloads it" if offline else "")
        + ". A gated or private model also needs HF_TOKEN (a read token) where it is downloaded.")


def _hub_error(repo: str, revision: str | None, exc: BaseException, cache: Path, endpoint: str) -> InferenceError:
    """What a failed Hub look-up or download means, and what to do (never the token)."""
    from huggingface_hub import errors as hf_errors

    from core.llm.errors import scrub

    token = _has_token()
    page = f"{endpoint}/{repo}"
    if isinstance(exc, hf_errors.GatedRepoError):
        return ModelUnavailable(
            f"model {repo} is gated on the Hugging Face Hub: open {page} and accept its conditions with your "
            f"account, then " + ("check that the token set here (HF_TOKEN or `hf auth login`) belongs to that "
                                 "account and can read it" if token else
                                 "set HF_TOKEN to a read token of that account (or run `hf auth login`)")
            + " and run again; or pass --base/--candidate a local folder that has it")
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return ModelNotFound(f"model {repo}: revision {revision!r} does not exist on the Hub ({page})")
    if isinstance(exc, hf_errors.RepositoryNotFoundError) or (
            isinstance(exc, hf_errors.HfHubHTTPError) and getattr(exc.response, "status_code", None) in (401, 403)):
        return ModelUnavailable(
            f"model {repo} was not found on the Hugging Face Hub ({endpoint}): check the id; a private model "
            + ("needs a token that can read it (the token set here, HF_TOKEN or `hf auth login`, cannot)" if token
               else "needs HF_TOKEN set to a token that can read it (or `hf auth login`)")
            + "; a local folder of that name does not exist either")
    if isinstance(exc, hf_errors.IncompleteSnapshotError):
        return _unreachable(repo, "no network", cache, partial=True)
    if isinstance(exc, hf_errors.OfflineModeIsEnabled) or hub_offline():
        return _unreachable(repo, _offline_reason(), cache)
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(exc.response, "status_code", None)
        if status is not None and status >= 500:
            return _unreachable(repo, f"the Hub at {endpoint} answered {status}; try again later", cache)
        return ModelUnavailable(f"model {repo}: the Hub at {endpoint} refused the download ({status}: "
                                f"{scrub(str(exc).splitlines()[0])[:200]})")
    if isinstance(exc, OSError) and not isinstance(exc, (ConnectionError, hf_errors.LocalEntryNotFoundError,
                                                         TimeoutError)) and getattr(exc, "errno", None):
        return InferenceError(f"model {repo}: downloading into {cache} failed: {scrub(exc)}")
    reason = exc.__cause__ if isinstance(exc, hf_errors.LocalEntryNotFoundError) and exc.__cause__ else exc
    return _unreachable(repo, f"cannot connect to {endpoint}: {reason.__class__.__name__}", cache)


def hub_folder(model: str, progress: Progress | None = None, *, check_hub: bool = False) -> Path:
    """A local folder with ``model`` (a Hub id, ``org/name[@revision]``): from the Hugging Face cache when a
    complete copy is there (``check_hub``: ask the Hub first for a newer commit when the network is there),
    else downloaded with progress; :class:`ModelUnavailable` (what to do) when neither can be done."""
    say = progress or (lambda _m: None)
    repo, revision = split_hub_id(model)
    if not is_hub_id(repo):
        raise ModelNotFound(f"model {model}: no such folder, and not a Hugging Face Hub id (org/name)")
    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError:  # pragma: no cover - a dependency
        raise InferenceError("Hub models need huggingface_hub (pip install huggingface_hub)") from None
    cache = hub_cache_dir()
    cached = _cached(repo, revision, cache)
    if cached is not None and (not check_hub or hub_offline()):
        return cached
    if hub_offline():
        raise _unreachable(repo, _offline_reason(), cache, partial=(cache / _repo_folder(repo)).exists())
    endpoint = hub_endpoint()
    try:
        info = HfApi(endpoint=endpoint).model_info(repo, revision=revision, files_metadata=True)
        sizes = {s.rfilename: s.size for s in (info.siblings or [])}
        names = list(sizes)
        weights = SAFETENSORS_FILES if any(fnmatch.fnmatch(n, p) for n in names for p in SAFETENSORS_FILES) \
            else BIN_FILES
        patterns = [*HUB_FILES, *weights]
        wanted = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
        if not any(any(fnmatch.fnmatch(n, p) for p in weights if not p.endswith(".json")) for n in wanted):
            gguf = any(n.endswith(".gguf") for n in names)
            raise ModelNotFound(
                f"model {repo} has no weights transformers can load (model*.safetensors or pytorch_model*.bin)"
                + ("; it holds GGUF files: serve it with llama.cpp or Ollama and pass "
                   "openai:<model>@http://host:port/v1" if gguf else ""))
        snapshot = cache / _repo_folder(repo) / "snapshots" / str(info.sha)
        todo = [n for n in wanted if not (snapshot / n).exists()]
        if todo:
            total = sum(sizes.get(n) or 0 for n in todo)
            say(f"downloading {repo} from the Hugging Face Hub ({endpoint}): {len(todo)} files, {_size(total)} "
                f"({', '.join(todo)}) into {cache}")
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=cache, endpoint=endpoint,
                                        allow_patterns=patterns, tqdm_class=_progress_bars(say, repo, quiet=not todo)))
    except InferenceError:
        raise
    except Exception as exc:  # noqa: BLE001 - every Hub failure becomes a message that says what to do
        if cached is not None:  # only the freshness check failed: the cached copy will do
            say(f"{repo}: could not check the Hub for a newer version ({exc.__class__.__name__}); using the "
                f"cached copy {cached}")
            return cached
        raise _hub_error(repo, revision, exc, cache, endpoint) from None
    if not weights_complete(folder):
        raise ModelUnavailable(f"model {repo}: the download into {folder} is incomplete (no config or weights): "
                               f"run again, or `hf download {repo}`")
    if todo:
        say(f"downloaded {repo} ({len(todo)} files) to {folder}")
    return folder


def _repo_folder(repo: str) -> str:
    return "models--" + repo.replace("/", "--")
