"""One ``/healthz``, ``/readyz`` and ``/metrics`` for a process tree: the parent's, over its children's.

Kubernetes probes one port per pod, and Prometheus scrapes one target. When `cesce-worker run`
supervises several engine processes, each child serves its own endpoints on a private loopback port
(`workers.runtime.parent_link`), and the parent's `HealthServer` answers for all of them with
`TreeHealth` (its `Health`) and `TreeMetrics` (a collector of its registry), asking the children over
HTTP at each probe or scrape. So an answer is never stale, and the children need no other channel.

- ``/healthz``: 200 while the parent's own loop runs and every child is alive: a child that exited
  (waiting for its restart) or whose ``/healthz`` fails or does not answer makes it 503, naming the
  process. A child still starting (no port reported yet) counts as alive: its start-up is the
  startup probe's business.
- ``/readyz``: ready when every child is ready. The checks are merged by name (``invoices.kafka``:
  ``ok`` when every child says so, else each child's complaint suffixed with ``(process <n>)``),
  and ``process.<n>`` says whether child n runs and answers.
- ``/metrics``: the children's expositions parsed, each sample labelled ``process="<n>"``, merged
  with the parent's own metrics (its restarts counter) family by family, so each family appears
  once with one HELP and one TYPE.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from workers.observability.health import Health

__all__ = [
    "PROCESS_LABEL",
    "ChildStatus",
    "Fetch",
    "TreeHealth",
    "TreeMetrics",
    "http_fetch",
    "merge_families",
    "merge_readiness",
    "registry_of",
]

_log = logging.getLogger(__name__)

PROCESS_LABEL: Final = "process"
_ALIVE_TIMEOUT: Final = 2.0  # under the liveness probe's 3 s
_READY_TIMEOUT: Final = 7.0  # a child's checks may take 5 s (a Cesce token)
_METRICS_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class ChildStatus:
    """What the supervisor knows of one child at the moment of a probe."""

    index: int
    port: int | None
    """Its health port, once reported; None while it starts or after it exited."""
    down: str | None = None
    """Why it is not running (its exit and when it restarts), None while it runs."""


Fetch = Callable[[int, str, float], tuple[int, str]]
"""(port, path, timeout) -> (HTTP status, body) from a child's endpoint; raises `httpx.HTTPError` (or OSError)."""


def http_fetch(port: int, path: str, timeout: float) -> tuple[int, str]:
    # never through the environment's proxy: a pod's HTTP_PROXY without 127.0.0.1 in NO_PROXY would fail /readyz
    response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=timeout, trust_env=False)
    return response.status_code, response.text


def _ask(fetch: Fetch, port: int, path: str, timeout: float) -> tuple[int, str] | str:
    """The child's answer, or why there is none (the error's type: no address or setting in it)."""
    try:
        return fetch(port, path, timeout)
    except (httpx.HTTPError, OSError) as exc:
        return f"no answer from its health endpoint ({type(exc).__name__})"


def _in_threads(children: Sequence[ChildStatus], ask: Callable[[ChildStatus], object]) -> list[object]:
    if not children:
        return []
    with ThreadPoolExecutor(max_workers=len(children), thread_name_prefix="tree-probe") as pool:
        return list(pool.map(ask, children))


def merge_readiness(answers: Mapping[int, Mapping[str, str] | str]) -> dict[str, str]:
    """Each child's checks (or why it has none) merged into one readiness answer, as described above."""
    merged: dict[str, list[str]] = {}
    processes: dict[str, str] = {}
    for index in sorted(answers):
        answer = answers[index]
        if isinstance(answer, str):
            processes[f"process.{index}"] = answer
            continue
        processes[f"process.{index}"] = "ok"
        for name, said in answer.items():
            complaints = merged.setdefault(name, [])
            if said != "ok":
                complaints.append(f"{said} (process {index})")
    checks = {name: "; ".join(complaints) or "ok" for name, complaints in merged.items()}
    return {**processes, **checks}


def merge_families(sources: Iterable[tuple[str | None, Iterable[Metric]]]) -> list[Metric]:
    """Metric families of several processes as one exposition: each sample gets ``process="<n>"`` (none for
    the parent's own, source None); a family seen again adds its samples to the first one, whose HELP and TYPE
    stand. A family whose type differs from the first one's is left out (logged): Prometheus refuses both."""
    merged: dict[str, Metric] = {}
    for process, families in sources:
        for family in families:
            samples = [
                sample if process is None else sample._replace(labels={**sample.labels, PROCESS_LABEL: process})
                for sample in family.samples
            ]
            kept = merged.get(family.name)
            if kept is None:
                kept = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            elif kept.type != family.type:
                _log.warning(
                    "metric %s: %s in process %s, %s before; left out", family.name, family.type, process, kept.type
                )
                continue
            kept.samples.extend(samples)
    return list(merged.values())


class TreeHealth(Health):
    """The parent's liveness and readiness: its own loop's heartbeat, and every child's answers."""

    def __init__(
        self,
        children: Callable[[], Sequence[ChildStatus]],
        *,
        stall_seconds: float = 30.0,
        fetch: Fetch = http_fetch,
    ) -> None:
        super().__init__(stall_seconds=stall_seconds)
        self._children = children
        self._fetch = fetch

    def alive(self) -> tuple[bool, str]:
        alive, reason = super().alive()
        if not alive:
            return alive, reason

        def ask(child: ChildStatus) -> str | None:
            if child.down is not None:
                return f"process {child.index} down: {child.down}"
            if child.port is None:
                return None  # starting
            answer = _ask(self._fetch, child.port, "/healthz", _ALIVE_TIMEOUT)
            if isinstance(answer, str):
                return f"process {child.index}: {answer}"
            status, body = answer
            return None if status == 200 else f"process {child.index}: {_reason(body)}"

        problems = [p for p in _in_threads(self._children(), ask) if p]
        return (False, "; ".join(str(p) for p in problems)) if problems else (True, "ok")

    async def ready(self) -> dict[str, str]:
        children = self._children()
        answers = await asyncio.to_thread(_in_threads, children, self._readiness)
        return merge_readiness(dict(zip((c.index for c in children), answers, strict=True)))  # type: ignore[arg-type]

    def _readiness(self, child: ChildStatus) -> Mapping[str, str] | str:
        if child.down is not None:
            return f"down: {child.down}"
        if child.port is None:
            return "starting"
        answer = _ask(self._fetch, child.port, "/readyz", _READY_TIMEOUT)
        if isinstance(answer, str):
            return answer
        try:
            checks = json.loads(answer[1])["checks"]
        except (ValueError, KeyError, TypeError):
            return f"an unreadable readiness answer (HTTP {answer[0]})"
        return {str(name): str(said) for name, said in checks.items()}


class TreeMetrics(Collector):
    """The parent's registry and every running child's ``/metrics``, merged at each scrape (`merge_families`)."""

    def __init__(
        self, own: CollectorRegistry, children: Callable[[], Sequence[ChildStatus]], *, fetch: Fetch = http_fetch
    ) -> None:
        self._own = own
        self._children = children
        self._fetch = fetch

    def collect(self) -> Iterable[Metric]:
        running = [child for child in self._children() if child.port is not None and child.down is None]
        expositions = _in_threads(running, self._exposition)
        sources: list[tuple[str | None, Iterable[Metric]]] = [(None, list(self._own.collect()))]
        for child, text in zip(running, expositions, strict=True):
            if isinstance(text, str):
                try:
                    sources.append((str(child.index), list(text_string_to_metric_families(text))))
                except ValueError as exc:  # a half-written answer: this scrape goes without that child
                    _log.warning("process %d: unreadable metrics (%s)", child.index, exc)
        return merge_families(sources)

    def _exposition(self, child: ChildStatus) -> str | None:
        answer = _ask(self._fetch, child.port or 0, "/metrics", _METRICS_TIMEOUT)
        if isinstance(answer, str) or answer[0] != 200:
            _log.debug("process %d: no metrics this scrape: %s", child.index, answer)
            return None
        return answer[1]


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry holding `collector` alone: what the parent's `HealthServer` serves on ``/metrics``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def _reason(body: str) -> str:
    try:
        return str(json.loads(body)["reason"])
    except (ValueError, KeyError, TypeError):
        return "not alive"
