"""The Hugging Face Hub side of training: the token, the namespace, the dataset push, clear errors.

The token comes from the caller, else ``HF_TOKEN``, else huggingface_hub's stored login
(``huggingface_hub.get_token()``). It is handed to the Hub client and to the job's secrets only; it is
never written to a file, and :func:`scrub` removes it from any text (log lines, error messages) that
might end up in one.

huggingface_hub is imported lazily: importing this module costs nothing at TUI start-up.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from core.errors import BadInput, TunesmithError

REDACTED = "***"


class HubError(TunesmithError):
    """A Hub call failed; the message says what to do (never contains the token)."""


class NoToken(HubError):
    exit_code = 2


def resolve_token(explicit: str | None = None) -> str:
    """The token to use: ``explicit``, else HF_TOKEN, else the stored login. Raises NoToken."""
    token = explicit or os.environ.get("HF_TOKEN")
    if not token:
        from huggingface_hub import get_token

        token = get_token()
    if not token:
        raise NoToken("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    return token


def scrub(text: str, token: str | None) -> str:
    """``text`` with the token (and anything that looks like an hf_ token) replaced by ***."""
    if not text:
        return text
    if token and len(token) >= 4:
        text = text.replace(token, REDACTED)
    return re.sub(r"\bhf_[A-Za-z0-9]{16,}\b", REDACTED, text)


def hub_error(exc: BaseException, what: str, token: str | None = None, endpoint: str | None = None) -> HubError:
    """A HubError with an actionable message for a failed Hub call."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return HubError(f"{what}: HF_HUB_OFFLINE is set, but Hugging Face Jobs need the network; unset it")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        code = exc.response.status_code
        hint = {
            401: "the Hub rejected the token: check HF_TOKEN or run `hf auth login`",
            402: "payment required: Hugging Face Jobs need a PRO account or an organization with credits",
            403: "the token may not write to this namespace (a write token, or an org you belong to)",
            404: "not found on the Hub",
            429: "rate limited by the Hub; try again in a minute",
        }.get(code, f"the Hub answered HTTP {code}")
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return HubError(scrub(f"{what}: {hint} ({detail})", token))
    where = f" at {endpoint}" if endpoint else ""
    return HubError(scrub(f"{what}: cannot reach the Hub{where} ({type(exc).__name__}: {exc})", token))


def whoami_name(api: Any, token: str) -> str:
    try:
        return api.whoami(token=token)["name"]
    except Exception as exc:  # noqa: BLE001 - turned into a clear message
        raise hub_error(exc, "who am I on the Hub", token, getattr(api, "endpoint", None)) from None


def dataset_repo_id(namespace: str, project_slug: str) -> str:
    """``<namespace>/<project-slug>-data`` (Hub repo names: 96 characters at most)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", project_slug).strip("-.")[: 96 - len("-data")] or "tunesmith"
    return f"{namespace}/{name}-data"


def push_training_dataset(api: Any, files: dict[str, Path], repo_id: str, token: str, *, private: bool = True,
                          message: str = "tunesmith: training data") -> str:
    """Create the dataset repo (private by default; an existing one is fine) and commit ``files``
    ({path in the repo: local file}, e.g. train.parquet, validation.parquet, README.md) in one commit.
    Returns the commit id: the exact revision the job trains on."""
    from huggingface_hub import CommitOperationAdd

    missing = [str(p) for p in files.values() if not Path(p).is_file()]
    if missing or not files:
        raise BadInput(f"dataset files missing: {', '.join(missing) or 'none given'} "
                       "(finish the dataset first: tunesmith generate NAME --scale)")
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
        info = api.create_commit(repo_id, repo_type="dataset", commit_message=message, token=token,
                                 operations=[CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                                             for name, path in files.items()])
    except Exception as exc:  # noqa: BLE001
        raise hub_error(exc, f"push the dataset to {repo_id}", token, getattr(api, "endpoint", None)) from None
    return getattr(info, "oid", None) or "main"


def pep723_dependencies(script: Path) -> list[str]:
    """The ``dependencies`` of a PEP 723 script's ``# /// script`` block (empty when it has none)."""
    lines = Path(script).read_text(encoding="utf-8").splitlines()
    body: list[str] | None = None
    for line in lines:
        if body is None:
            if line.strip() == "# /// script":
                body = []
            continue
        if line.strip() == "# ///":
            break
        if not line.startswith("#"):
            return []  # not a well-formed block
        body.append(line[2:] if line.startswith("# ") else line[1:])
    if not body:
        return []
    try:
        meta = tomllib.loads("\n".join(body))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{script}: the PEP 723 header is not valid TOML: {exc}") from None
    return [str(d) for d in meta.get("dependencies") or []]
