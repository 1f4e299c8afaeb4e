"""Imports a dependency makes for an option we do not use, deferred until that option is used.

confluent-kafka's Schema Registry client imports authlib's httpx OAuth2 client at import, for its OAuth bearer
option (``bearer.auth.credentials.source=OAUTHBEARER``), which it builds only when that option is set; authlib
brings cryptography and joserfc: 226 modules and 11.4 MB resident in every worker process (78.0 against 66.6 MB
after importing what a worker imports; issue 18: a process is held to 150 MB). `defer_registry_oauth` puts a
stand-in for that module in ``sys.modules`` before the client is imported: the client's
``from authlib.integrations.httpx_client import OAuth2Client, AsyncOAuth2Client`` binds stand-ins, and the
real module is imported the first time one is called (the option is set) or anything else is read from it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any, Final

__all__ = ["REGISTRY_OAUTH_MODULE", "defer_registry_oauth"]

REGISTRY_OAUTH_MODULE: Final = "authlib.integrations.httpx_client"
_DEFERRED_CLASSES: Final = ("OAuth2Client", "AsyncOAuth2Client")
_lock = threading.Lock()


class _StandIn(types.ModuleType):
    """``authlib.integrations.httpx_client`` until something of it is used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _DEFERRED_CLASSES:
            return _DeferredClass(name)
        return getattr(_real(), name)


class _DeferredClass:
    """One of authlib's OAuth2 clients: called, it imports authlib and builds the real one."""

    def __init__(self, name: str) -> None:
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(_real(), self.__name__)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{REGISTRY_OAUTH_MODULE}.{self.__name__}, imported when first built>"


def _real() -> types.ModuleType:
    with _lock:
        if isinstance(sys.modules.get(REGISTRY_OAUTH_MODULE), _StandIn):
            del sys.modules[REGISTRY_OAUTH_MODULE]
        return importlib.import_module(REGISTRY_OAUTH_MODULE)


def defer_registry_oauth() -> bool:
    """Put the stand-in in place unless the real module (or the stand-in) is there already; whether it was."""
    with _lock:
        if REGISTRY_OAUTH_MODULE in sys.modules:
            return False
        sys.modules[REGISTRY_OAUTH_MODULE] = _StandIn(REGISTRY_OAUTH_MODULE)
        return True
