"""Self-hosted model servers: which API bases are ours, and how many requests a llama.cpp server serves.

A server we run ourselves (llama.cpp, vLLM, Ollama, LM Studio) has a fixed number of parallel slots
and queues what it cannot serve now; the gateway should never have more requests out than it has slots,
or the queued ones time out. llama.cpp's server says how many it has: ``GET {root}/props`` answers JSON
with ``total_slots`` (``{root}`` is the API base without its ``/v1``), and ``GET {root}/slots`` lists
them (older servers). vLLM, Ollama and LM Studio say nothing comparable (404): their callers rely on
timeouts as back-pressure alone (:mod:`core.llm.limiter`).

:func:`probe_slots` is asked once per API base, at the gateway's first call to it, and only for an
OpenAI-compatible API base on this machine or a private network (:func:`is_local`): never a hosted
provider, never any host but the configured one. It waits at most ``timeout_s`` and never raises.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0
# Host names that only resolve on a private network (mDNS, home routers, Docker, Kubernetes, RFC 8375).
LOCAL_SUFFIXES = (".localhost", ".local", ".lan", ".home", ".internal", ".home.arpa", ".svc", ".cluster.local")
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # shared address space (Tailscale and similar VPNs)
# Providers whose servers do not answer /props (vLLM): not probed.
NO_SLOT_INFO = ("hosted_vllm",)


def host_of(api_base: str) -> str:
    return (urlsplit(api_base if "//" in api_base else f"http://{api_base}").hostname or "").lower()


def is_local(api_base: str | None) -> bool:
    """Whether ``api_base`` is on this machine or a private network: a loopback, private or link-local
    address, ``localhost``, a single-label host name (a Docker service, a LAN machine) or a name under a
    private suffix (``.local``, ``.lan``, ``.internal``, ...)."""
    if not api_base:
        return False
    host = host_of(api_base)
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(LOCAL_SUFFIXES)
    return ip.is_loopback or ip.is_private or ip.is_link_local or (ip.version == 4 and ip in CGNAT)


def server_root(api_base: str) -> str:
    """The server's root URL: the API base without a trailing ``/v1`` (where llama.cpp serves /props)."""
    root = api_base.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def slots_from(props: Any) -> int | None:
    """``total_slots`` from a /props answer (a positive int), else None."""
    value = props.get("total_slots") if isinstance(props, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


async def probe_slots(api_base: str, api_key: str | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    """How many requests the server at ``api_base`` serves at once, if it says (llama.cpp); else None.
    ``api_key`` is sent as a bearer token (a server started with --api-key guards /props too)."""
    import aiohttp  # a dependency already (and imported by litellm's transports); only needed here

    root = server_root(api_base)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s), headers=headers) as http:
            async with http.get(f"{root}/props") as resp:
                if resp.status != 200:
                    return None
                props = await resp.json(content_type=None)
            slots = slots_from(props)
            if slots is None and isinstance(props, dict) and "default_generation_settings" in props:
                async with http.get(f"{root}/slots") as resp:  # an older llama.cpp: count the slots
                    listed = await resp.json(content_type=None) if resp.status == 200 else None
                slots = len(listed) if isinstance(listed, list) and listed else None
    except Exception as exc:  # unreachable, slow, not JSON: the probe is only a hint
        log.debug("no slot count from %s: %s", root, type(exc).__name__)
        return None
    if slots is not None:
        log.info("%s serves %d request(s) at once (total_slots)", root, slots)
    return slots
