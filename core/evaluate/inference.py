"""Outputs of a model on the frozen eval set (and on paraphrases of its inputs), cached per model.

What a model spec means (:func:`classify`, :func:`model_ref`):

- an existing local folder — local transformers; a folder with ``adapter_config.json`` is a LoRA adapter,
  loaded through peft on top of its base (the training run's base model, else the adapter's own
  ``base_model_name_or_path``);
- a training run id (or ``latest``) — that run's ``runs/<id>/model``, or the Hub model it pushed
  (:func:`resolve_models`);
- ``org/name`` or ``hf:org/name`` (``@revision`` optional: ``hf:org/name@v2``) — a Hugging Face Hub model,
  local transformers: taken from the Hugging Face cache when it is there, else downloaded (:func:`hub_folder`);
  ``hf:`` is needed when the org is also a litellm provider name (``hf:openai/gpt-oss-20b``);
- ``openai:<model>@http(s)://host:port/v1`` — a model served by an OpenAI-compatible server (vLLM, Ollama,
  llama.cpp's server, LM Studio, a proxy), called through the gateway (litellm ``openai/<model>`` with that
  API base); ``<model>@http(s)://...`` without a prefix means the same;
- ``litellm:<model>`` — any litellm model string through the gateway, e.g. ``litellm:hosted_vllm/my-model``;
- ``<provider>/<model>`` where provider is a litellm provider (openai, anthropic, hosted_vllm, ollama, …:
  :data:`LITELLM_PROVIDERS`) — served, through the gateway.

A served model's API base: ``<model>@http(s)://...`` in the spec (the CLI's ``--base-api-base`` /
``--candidate-api-base`` put it there, :func:`with_api_base`), else ``TUNESMITH_EVAL_API_BASE``, else the
project's ``[models].api_base``, else ``TUNESMITH_API_BASE``. Its key, if the server wants one, comes from the
provider's usual environment variable (``OPENAI_API_KEY`` for ``openai:``); it is never part of a spec, of the
eval record or of the cache key (a URL with a user name or password in it is refused). At most
``TUNESMITH_EVAL_CONCURRENCY`` (default 8) requests are out at once, fewer when a local server says it has
fewer slots.

Hub models: :mod:`core.evaluate.hub_models` (the Hugging Face cache first, else a download with
progress; a clear error offline).

Local inference: ``AutoModelForCausalLM`` + ``AutoTokenizer`` from a folder (local files only), batched with
left padding (inputs sorted by length, order restored), greedy by default (``temperature`` > 0 samples,
seeded), the input as one user turn through the tokenizer's chat template with ``add_generation_prompt=True``;
only the new tokens are decoded.

Cache: ``evals/cache/<sha>.parquet`` holds {id, output} rows, keyed by sha256 of the model (for a local
folder also a fingerprint of its files, so a retrained folder is not mistaken for the old one; for a run's
Hub model its run id; for a served model its API base), the decoding parameters and the inputs' hash.
Partial progress is saved after every batch, so an interrupted evaluation resumes; a rerun of
``tunesmith evaluate`` generates nothing it already has (and loads or downloads no model).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from core import store
from core.errors import BadInput, StageNotReady, TunesmithError
from core.evaluate.evalfolder import ModelRef, cache_dir, resolved_ref
from core.evaluate.hub_models import (  # noqa: F401  (re-exported: the errors and the Hub helpers)
    HUB_FILES,
    HUB_PREFIX,
    InferenceError,
    ModelNotFound,
    ModelUnavailable,
    hub_folder,
    is_hub_id,
    split_hub_id,
    weights_complete,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
STAGE = "evaluate"
CACHE_VERSION = 1
LITELLM_PREFIX = "litellm:"
OPENAI_PREFIX = "openai:"  # an OpenAI-compatible server: openai:<model>@http://host:port/v1
SPEC_PREFIXES = (LITELLM_PREFIX, OPENAI_PREFIX, HUB_PREFIX)
DEFAULT_EVAL_CONCURRENCY = 8
LITELLM_PROVIDERS = frozenset({
    "openai", "anthropic", "azure", "azure_ai", "gemini", "vertex_ai", "groq", "mistral", "together_ai",
    "openrouter", "deepseek", "xai", "fireworks_ai", "huggingface", "hosted_vllm", "vllm", "ollama",
    "ollama_chat", "cohere", "cohere_chat", "bedrock", "sagemaker", "text-completion-openai", "lm_studio",
    "perplexity", "replicate", "cerebras", "sambanova", "nvidia_nim", "watsonx", "databricks", "deepinfra",
    "ai21", "cloudflare", "litellm_proxy", "anyscale", "friendliai", "github", "llamafile", "openai_like",
})




@dataclass(frozen=True)
class DecodingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    batch_size: int = 8
    seed: int = 0

    def key(self) -> dict[str, Any]:
        """The parameters that change outputs (batch size does not, in principle)."""
        d = asdict(self)
        d.pop("batch_size")
        if self.temperature <= 0:
            d.pop("top_p")
            d.pop("seed")
        return d


@dataclass(frozen=True)
class Item:
    id: str
    input: str


# ---------------------------------------------------------------- what a spec means


def _split_api_base(spec: str) -> tuple[str, str | None]:
    for marker in ("@http://", "@https://"):
        if marker in spec:
            model, _, rest = spec.partition(marker)
            return model, marker[1:] + rest
    return spec, None


def _is_provider_model(model: str) -> bool:
    return "/" in model and model.split("/", 1)[0].lower() in LITELLM_PROVIDERS


def classify(spec: str) -> str:
    """"local", "hub" or "litellm" (see the module docstring)."""
    spec = spec.strip()
    if spec.startswith((LITELLM_PREFIX, OPENAI_PREFIX)):
        return "litellm"
    if spec.startswith(HUB_PREFIX):
        return "hub"
    if Path(spec).expanduser().exists():
        return "local"
    model, api_base = _split_api_base(spec)
    if api_base or _is_provider_model(model):
        return "litellm"
    return "hub"


def check_api_base(url: str | None, where: str = "the served model's API base") -> None:
    """An API base is an http(s) URL without credentials in it (it is stored in the eval record and the cache
    key; a key belongs in the provider's environment variable). The URL is not echoed when it has them."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        has_credentials = bool(parts.username or parts.password)
    except ValueError:
        raise BadInput(f"{where}: {url!r} is not a URL (expected http://host:port/v1)") from None
    if has_credentials:
        raise BadInput(f"{where}: the URL has a user name or password in it; give the server's key in its "
                       f"environment variable instead (OPENAI_API_KEY for openai:<model>): a URL is stored in the "
                       f"evaluation record, a key never is")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{where}: {url!r} is not an http(s) URL (expected e.g. http://localhost:8000/v1)")


def served_api_base(project: Any | None = None, explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    env = (os.environ.get("TUNESMITH_EVAL_API_BASE") or "").strip()
    if env:
        return env
    if project is not None and project.meta.models.api_base:
        return project.meta.models.api_base
    return (os.environ.get("TUNESMITH_API_BASE") or "").strip() or None


def model_ref(spec: str, project: Any | None = None, *, run_id: str | None = None,
              adapter_base: str | None = None) -> ModelRef:
    """A :class:`ModelRef` for ``spec`` (a local folder is resolved to an absolute path)."""
    spec = spec.strip()
    if not spec:
        raise BadInput("model: empty model name")
    kind = classify(spec)
    if kind == "litellm":
        if spec.startswith(OPENAI_PREFIX):
            name, api_base = _split_api_base(spec.removeprefix(OPENAI_PREFIX))
            if not name.strip():
                raise BadInput(f"model {spec!r}: no model name (expected openai:<model>@http://host:port/v1)")
            model = f"openai/{name.strip()}"
        elif spec.startswith(LITELLM_PREFIX):
            model, api_base = _split_api_base(spec.removeprefix(LITELLM_PREFIX))
        else:
            model, api_base = _split_api_base(spec)
            if api_base and not _is_provider_model(model):
                model = f"openai/{model}"  # a bare name at a URL: an OpenAI-compatible server
        if not model.strip():
            raise BadInput(f"model {spec!r}: no model name")
        api_base = served_api_base(project, api_base)
        check_api_base(api_base)
        return ModelRef(spec=spec, kind="litellm", model=model.strip(), run_id=run_id, api_base=api_base)
    if kind == "hub":
        return ModelRef(spec=spec, kind="hub", model=spec.removeprefix(HUB_PREFIX), run_id=run_id)
    folder = Path(spec).expanduser().resolve()
    base = None
    if (folder / "adapter_config.json").exists():
        base = adapter_base or _adapter_base_of(folder)
        if not base:
            raise BadInput(f"{folder}: a LoRA adapter without a base model (adapter_config.json has no "
                           f"base_model_name_or_path); pass the base with --base")
        base_path = Path(base).expanduser()
        base = str(base_path.resolve()) if base_path.exists() else base
    return ModelRef(spec=spec, kind="local", model=str(folder), run_id=run_id, adapter_base=base)


def _adapter_base_of(folder: Path) -> str | None:
    try:
        data = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("base_model_name_or_path") or None


def with_api_base(spec: str | None, api_base: str | None, option: str, project: Any | None = None) -> str | None:
    """``spec`` served from ``api_base`` (the CLI's ``--base-api-base`` / ``--candidate-api-base``): a served
    spec gets ``@<api_base>``, a plain model name becomes ``openai:<name>@<api_base>``. A local folder, a Hub
    model given with ``hf:``, a training run or a spec that already names its server is bad input."""
    if not api_base or not api_base.strip():
        return spec
    api_base = api_base.strip()
    check_api_base(api_base, option)
    flag = option.removesuffix("-api-base")
    if not spec or not spec.strip():
        raise BadInput(f"{option}: it names the server of a served model; give the model too: "
                       f"{flag} openai:<model> {option} {api_base}")
    spec = spec.strip()
    if project is not None and _is_run(project, spec):
        raise BadInput(f"{option}: {spec} is a training run, evaluated here; an API base goes with a served "
                       f"model ({flag} openai:<model>)")
    if _split_api_base(spec)[1]:
        raise BadInput(f"{option}: {spec} already names its server; give the URL once")
    if spec.startswith(HUB_PREFIX) or classify(spec) == "local":
        raise BadInput(f"{option}: {spec} is loaded here with transformers, not served; to call it on a server "
                       f"pass {flag} openai:<the name the server gives it>")
    if spec.startswith((OPENAI_PREFIX, LITELLM_PREFIX)) or classify(spec) == "litellm":
        return f"{spec}@{api_base}"
    return f"{OPENAI_PREFIX}{spec}@{api_base}"


def _is_run(project: Any, text: str) -> bool:
    from core.train import runfolder as rf

    if text in ("latest", "last"):
        return True
    try:
        return any(r.run_id == text for r in rf.list_runs(project))
    except TunesmithError:
        return False


# ---------------------------------------------------------------- which models (defaults from the runs)


def _completed_runs(project: Any) -> list[Any]:
    from core.train import runfolder as rf

    return [r for r in rf.list_runs(project) if r.status == "completed"]


def _run_model(project: Any, run: Any) -> ModelRef:
    from core.train import runfolder as rf

    folder = rf.run_dir(project, run.run_id) / rf.MODEL_DIR
    if (folder / "config.json").exists() or (folder / "adapter_config.json").exists():
        return model_ref(str(folder), project, run_id=run.run_id, adapter_base=run.base_model)
    hub = run.hub_model_id or run.output_model
    if hub and not Path(hub).exists():
        ref = model_ref(hub if classify(hub) == "hub" else HUB_PREFIX + hub, project, run_id=run.run_id)
        if run.use_lora:
            ref = ref.model_copy(update={"adapter_base": run.base_model})
        return ref
    if hub and Path(hub).exists():
        return model_ref(hub, project, run_id=run.run_id, adapter_base=run.base_model)
    raise StageNotReady(f"run {run.run_id} completed but has no model: neither {folder} nor a Hub model id")


def _find_run(project: Any, text: str) -> Any | None:
    from core.train import runfolder as rf

    runs = rf.list_runs(project)
    if text in ("latest", "last"):
        done = [r for r in runs if r.status == "completed"]
        if not done:
            raise StageNotReady(f"no completed training run: tunesmith train {project.slug}")
        return done[0]
    exact = [r for r in runs if r.run_id == text]
    if exact:
        return exact[0]
    if "/" in text or Path(text).expanduser().exists():
        return None
    partial = [r for r in runs if text in r.run_id]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise BadInput(f"--candidate: {text!r} matches {len(partial)} runs "
                       f"({', '.join(r.run_id for r in partial[:5])}); give more of the id")
    return None


def resolve_models(project: Any, base: str | None = None, candidate: str | None = None) -> tuple[ModelRef, ModelRef]:
    """(base, candidate). Candidate: a run id (its runs/<id>/model, or its Hub model), any model spec, or by
    default the latest completed run. Base: ``base``, else the candidate run's base model, else the project's
    ``config.train.base_model`` / ``[models].base_model``."""
    run = None
    if candidate is None:
        done = _completed_runs(project)
        if not done:
            raise StageNotReady(f"no completed training run to evaluate: tunesmith train {project.slug} "
                                f"(or name a model: tunesmith evaluate {project.slug} --candidate M)")
        run = done[0]
    else:
        run = _find_run(project, candidate.strip())
        if run is not None and run.status != "completed":
            raise StageNotReady(f"run {run.run_id} is {run.status}, not completed"
                                + (f": {run.failure_reason}" if run.failure_reason else ""))
    cand = _run_model(project, run) if run is not None else model_ref(candidate or "", project)
    trained_on = ((run.base_model if run is not None else None)
                  or project.meta.config.train.base_model or project.meta.models.base_model)
    base_spec = base or _training_base(trained_on)
    if not base_spec:
        raise BadInput("--base: no base model: pass --base M (a local folder, a Hub id, openai:<model>@<url> or "
                       "litellm:<model>) or set config.train.base_model in project.toml")
    return model_ref(base_spec, project), cand


def _training_base(text: str | None) -> str | None:
    """A training base model (a folder or a Hub id, never a served model) as a spec: ``openai/gpt-oss-20b``
    as a base model is the Hub's openai org, not the provider."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if text.startswith(SPEC_PREFIXES) or Path(text).expanduser().exists() or classify(text) != "litellm":
        return text
    return HUB_PREFIX + text if _split_api_base(text)[1] is None else text


# ---------------------------------------------------------------- cache


def _fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of a model folder's files (not their bytes: models are big)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            h.update(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def model_identity(ref: ModelRef) -> dict[str, Any]:
    ident: dict[str, Any] = {"kind": ref.kind, "model": ref.model}
    if ref.kind == "local":
        ident["files"] = _fingerprint(Path(ref.model))
    if ref.adapter_base:
        ident["adapter_base"] = ref.adapter_base
        if Path(ref.adapter_base).exists():
            ident["base_files"] = _fingerprint(Path(ref.adapter_base))
    if ref.kind == "hub" and ref.run_id:
        ident["run_id"] = ref.run_id  # a later run may push new weights to the same repo
    if ref.api_base:
        ident["api_base"] = ref.api_base
    return ident


def cache_key(ref: ModelRef, params: DecodingParams, inputs_hash: str) -> str:
    payload = json.dumps({"v": CACHE_VERSION, "model": model_identity(ref), "decoding": params.key(),
                          "inputs": inputs_hash}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def items_hash(items: Sequence[Item]) -> str:
    payload = json.dumps([[i.id, i.input] for i in items], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_cache(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        return {str(r["id"]): str(r["output"]) for r in store.read_parquet_rows(path)}
    except Exception as exc:  # a torn or foreign file is a miss, never a crash
        log.warning("ignoring the unreadable inference cache %s: %s", path, exc)
        return {}


def _write_cache(path: Path, outputs: dict[str, str]) -> None:
    store.write_parquet(path, [{"id": k, "output": v} for k, v in outputs.items()])


# ---------------------------------------------------------------- runners


class LocalRunner:
    """A transformers model loaded once, generating in batches."""

    def __init__(self, ref: ModelRef, params: DecodingParams, progress: Progress | None = None):
        self.ref = ref
        self.params = params
        self.progress = progress
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self.note = ""

    def load(self) -> None:
        if self.model is not None:
            return
        ref = self.ref
        model_dir, base_dir = self.sources()  # first: a model that cannot be had fails before torch is imported
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - the project depends on both
            raise InferenceError(f"local inference needs torch and transformers ({exc})") from None
        kwargs: dict[str, Any] = {"local_files_only": True}  # every source is a folder on this machine by now
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        weights = base_dir or model_dir
        try:
            tok_src = model_dir if _has_tokenizer(model_dir) else weights
            self.tokenizer = AutoTokenizer.from_pretrained(tok_src, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(weights, dtype=dtype, **kwargs)
            if base_dir:
                try:
                    from peft import PeftModel
                except ImportError:
                    raise InferenceError(f"{ref.model} is a LoRA adapter; loading it needs peft "
                                         f"(pip install peft)") from None
                model = PeftModel.from_pretrained(model, model_dir, **kwargs)
        except InferenceError:
            raise
        except (OSError, ValueError) as exc:
            where = f"check the folder {weights}" + (f" and the adapter {model_dir}" if base_dir else "")
            raise InferenceError(f"cannot load {ref.model}"
                                 + (f" (base {ref.adapter_base or base_dir})" if base_dir else "")
                                 + f": {str(exc).splitlines()[0][:300] if str(exc) else exc.__class__.__name__}; "
                                 + where) from None
        model.to(self.device)
        model.eval()
        self.model = model
        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if not getattr(tok, "chat_template", None):
            self.note = f"{ref.model} has no chat template: inputs are given as plain text"

    def sources(self) -> tuple[str, str | None]:
        """(the model's folder, its base's folder for a LoRA adapter): Hub models are taken from the cache or
        downloaded (:func:`hub_folder`)."""
        ref = self.ref
        if ref.kind == "hub":  # a training run's own Hub model: ask the Hub for its newest push first
            model_dir = str(hub_folder(ref.model, self.progress, check_hub=ref.run_id is not None))
        else:
            model_dir = ref.model
        adapter = (Path(model_dir) / "adapter_config.json").exists()
        base = ref.adapter_base if adapter else None  # a run recorded as LoRA that pushed merged weights: no base
        if adapter and not base:
            base = _adapter_base_of(Path(model_dir))
            if not base:
                raise InferenceError(f"{ref.model} is a LoRA adapter whose adapter_config.json names no base model "
                                     f"(base_model_name_or_path): set it there, or evaluate the merged model")
        if not base:
            return model_dir, None
        if Path(base).expanduser().exists():
            return model_dir, str(Path(base).expanduser())
        try:
            return model_dir, str(hub_folder(base, self.progress))
        except ModelNotFound as exc:
            raise ModelNotFound(f"{exc} (the base model of the LoRA adapter {ref.model})") from None

    def prompt(self, text: str) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True)
        return text + "\n"

    def generate(self, texts: Sequence[str]) -> list[str]:
        import torch

        self.load()
        tok, p = self.tokenizer, self.params
        prompts = [self.prompt(t) for t in texts]
        enc_kwargs: dict[str, Any] = {"padding": True, "return_tensors": "pt", "add_special_tokens": False}
        limit = getattr(tok, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 1_000_000 and limit > p.max_new_tokens:
            tok.truncation_side = "left"
            enc_kwargs.update(truncation=True, max_length=limit - p.max_new_tokens)
        enc = tok(prompts, **enc_kwargs).to(self.device)
        gen: dict[str, Any] = {"max_new_tokens": p.max_new_tokens, "pad_token_id": tok.pad_token_id}
        if p.temperature > 0:
            torch.manual_seed(p.seed)
            gen.update(do_sample=True, temperature=p.temperature, top_p=p.top_p)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**enc, **gen)
        new = out[:, enc["input_ids"].shape[1]:]
        return [s.strip() for s in tok.batch_decode(new, skip_special_tokens=True)]

    def close(self) -> None:
        self.model = None
        self.tokenizer = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass


def _has_tokenizer(folder: str) -> bool:
    p = Path(folder)
    return p.is_dir() and any((p / n).exists() for n in ("tokenizer.json", "tokenizer_config.json",
                                                          "tokenizer.model"))


def eval_concurrency() -> int:
    """Requests a served model gets at once: ``TUNESMITH_EVAL_CONCURRENCY`` (default 8); the gateway lowers it
    to a local server's slot count and on rate limits."""
    raw = (os.environ.get("TUNESMITH_EVAL_CONCURRENCY") or "").strip()
    if not raw:
        return DEFAULT_EVAL_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"TUNESMITH_EVAL_CONCURRENCY: {raw!r} is not a whole number") from None
    if value < 1:
        raise BadInput("TUNESMITH_EVAL_CONCURRENCY: must be at least 1")
    return value


async def served_outputs(ref: ModelRef, items: Sequence[Item], params: DecodingParams, *,
                         project: Any | None = None, gateway: Any | None = None,
                         on_done: Callable[[str, str], None] | None = None) -> dict[str, str]:
    """Outputs of a served model (litellm, an OpenAI-compatible server) through a gateway of its own (the
    model string is used as given, with the ref's API base; greedy unless ``params.temperature`` > 0; at most
    :func:`eval_concurrency` requests at once); its response cache is the project's LLM cache."""
    from core.llm.gateway import Gateway
    from core.models.project import ModelRoles

    own = Gateway(roles=ModelRoles(generator=ref.model, api_base=ref.api_base), env={},
                  cache_dir=(project.cache_dir / "llm") if project is not None else None,
                  budget_usd=getattr(gateway, "budget_usd", None), max_concurrency=eval_concurrency())
    try:
        async def one(it: Item) -> tuple[str, str]:
            c = await own.complete("generator", [{"role": "user", "content": it.input}], stage=STAGE,
                                   temperature=params.temperature, max_tokens=params.max_new_tokens,
                                   seed=params.seed if params.temperature > 0 else None)
            text = c.text.strip()
            if on_done is not None:
                on_done(it.id, text)
            return it.id, text

        pairs = await asyncio.gather(*(one(it) for it in items))
    finally:
        own.close()
    return dict(pairs)


# ---------------------------------------------------------------- the facade


class Inference:
    """Outputs of one model, with the cache. Loads a local model only on a cache miss, once."""

    def __init__(self, ref: ModelRef, params: DecodingParams | None = None, *, project: Any | None = None,
                 cache: Path | None = None, gateway: Any | None = None, progress: Progress | None = None):
        if project is not None and ref.kind == "local" and not Path(ref.model).is_absolute():
            ref = resolved_ref(project, ref)  # a record's model path is relative to the project folder
        self.ref = ref
        self.params = params or DecodingParams()
        self.project = project
        self.cache = cache or (cache_dir(project) if project is not None else None)
        self.gateway = gateway
        self.progress = progress
        self.runner: LocalRunner | None = None
        self.hits = 0
        self.generated = 0

    def _say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress(msg)

    def cache_path(self, inputs_hash: str) -> Path | None:
        if self.cache is None:
            return None
        return self.cache / f"{cache_key(self.ref, self.params, inputs_hash)}.parquet"

    def outputs(self, items: Sequence[Item], inputs_hash: str | None = None, label: str = "") -> dict[str, str]:
        """{item id: output} for every item (cached ones are not generated again)."""
        from core.llm.gateway import run_sync

        inputs_hash = inputs_hash or items_hash(items)
        path = self.cache_path(inputs_hash)
        done = _read_cache(path) if path is not None else {}
        todo = [it for it in items if it.id not in done]
        self.hits += len(items) - len(todo)
        name = f"{label} " if label else ""
        if not todo:
            self._say(f"{name}{self.ref.model}: {len(items)} outputs from the cache")
            return {it.id: done[it.id] for it in items}
        if done:
            self._say(f"{name}{self.ref.model}: {len(done)} cached, generating {len(todo)}")
        from core.progress import Eta

        if self.ref.kind == "litellm":
            counter = {"n": 0}
            eta = Eta(total=len(todo))  # the time left from this run's measured outputs per second

            def on_done(_id: str, text: str) -> None:
                counter["n"] += 1
                eta.update(counter["n"])
                if counter["n"] % 10 == 0 or counter["n"] == len(todo):
                    self._say(f"{name}{self.ref.model}: {eta.line('outputs')}")

            new = run_sync(served_outputs(self.ref, todo, self.params, project=self.project, gateway=self.gateway,
                                          on_done=on_done))
            done.update(new)
            self.generated += len(new)
        else:
            self.runner = self.runner or LocalRunner(self.ref, self.params, progress=self.progress)
            if self.runner.model is None:
                self._say(f"loading {self.ref.model}" + (f" + adapter on {self.ref.adapter_base}"
                                                         if self.ref.adapter_base else ""))
            order = sorted(todo, key=lambda it: len(it.input))
            bs = max(1, self.params.batch_size)
            eta = Eta(total=len(order), warmup=min(bs, len(order) - 1))  # the first batch warms the model up
            for start in range(0, len(order), bs):
                batch = order[start:start + bs]
                texts = self.runner.generate([it.input for it in batch])
                done.update({it.id: t for it, t in zip(batch, texts)})
                self.generated += len(batch)
                if path is not None:
                    _write_cache(path, done)
                eta.update(min(start + bs, len(order)))
                self._say(f"{name}{self.ref.model}: {eta.line('outputs')}")
            if self.runner.note:
                self._say(self.runner.note)
        if path is not None:
            _write_cache(path, done)
        return {it.id: done[it.id] for it in items}

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None


def generate_outputs(ref: ModelRef, items: Sequence[Item], params: DecodingParams | None = None, *,
                     project: Any | None = None, cache: Path | None = None, inputs_hash: str | None = None,
                     progress: Progress | None = None) -> dict[str, str]:
    """One-shot :class:`Inference` (loads, generates, frees)."""
    inf = Inference(ref, params, project=project, cache=cache, progress=progress)
    try:
        return inf.outputs(items, inputs_hash)
    finally:
        inf.close()
