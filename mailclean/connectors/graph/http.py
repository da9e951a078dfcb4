"""HTTP to Microsoft Graph: one httpx client per mailbox, at most 4 requests in flight per
mailbox, throttling and network failures retried within a deadline, ``$batch``.

- **HTTP/2** where the server offers it (ALPN; httpx with h2), gzip, keep-alive.
- **Every request** carries the bearer token and ``Prefer: IdType="ImmutableId"`` (ids
  that survive moves), sub-requests of a ``$batch`` too (Graph does not pass the outer
  headers on).
- **At most** ``max_in_flight`` (4, Exchange Online's documented limit) requests in flight
  per mailbox in this process, whatever the number of connectors on it: a gate per
  (Graph host, mailbox). A ``$batch`` of n requests takes min(n, 4) places: Exchange runs
  a batch's requests four at a time, and each counts against the mailbox's limit
  (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
- **429 and 503** wait for ``Retry-After`` (seconds or an HTTP date), else back off
  exponentially with jitter; the wait holds every request to that mailbox (a global
  slow-down: sending more while throttled only earns more 429s). Inside a 200 ``$batch``,
  only the throttled sub-requests are sent again. A request gives up after
  ``settings.max_wait`` seconds ([settings] deadline) of trying, with every retry logged.
- **401** renews the token once and sends again (a token may expire between two requests).
- A request that got no answer (connection refused or dropped) is sent again only when it
  is idempotent (GETs, batches of GETs), a few times; anything else is for the caller's
  reconciliation to settle.
- Links the server hands out (``@odata.nextLink``, ``@odata.deltaLink``) are followed only
  under the configured Graph root: a bearer token never goes anywhere else.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from mailclean.connectors.base import ConnectorError
from mailclean.connectors.graph import limits
from mailclean.connectors.graph.errors import Aborted, GraphError, parse_retry_after
from mailclean.connectors.graph.settings import GraphSettings
from mailclean.i18n import _
from mailclean.tls import CafileError, client_context

log = logging.getLogger("mailclean.connectors.graph")

IMMUTABLE_IDS = 'IdType="ImmutableId"'
_RETRY_STATUSES = (429, 503)
_TRANSIENT = (502, 504)
_WORKER = "mailclean-graph"


class Auth(Protocol):
    """What the transport needs of a sign-in."""

    can_refresh: bool

    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class _Gate:
    """One mailbox's share of the server: its slots and its throttling pause.

    Exchange runs the requests of a ``$batch`` four at a time, each counting against the
    mailbox's concurrency limit, so a batch of n takes min(n, 4) slots, all at once (taking
    them one by one, two batches could each hold half and wait for ever).
    """

    def __init__(self, slots: int) -> None:
        self.capacity = max(1, slots)
        self.free = self.capacity
        self.resume_at = 0.0
        self.throttled = 0
        self.lock = threading.Condition()

    def take(self, n: int, stop: threading.Event) -> int:
        """Wait for ``n`` slots (at most all of them); the number taken."""
        n = max(1, min(n, self.capacity))
        with self.lock:
            while self.free < n:
                if stop.is_set():
                    raise Aborted()
                self.lock.wait(0.5)
            self.free -= n
        return n

    def give(self, n: int) -> None:
        """Give back ``n`` slots."""
        with self.lock:
            self.free += n
            self.lock.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold every request to the mailbox for ``seconds`` from now."""
        with self.lock:
            self.throttled += 1
            self.resume_at = max(self.resume_at, time.monotonic() + seconds)

    def wait_time(self) -> float:
        """Seconds left of the throttling pause."""
        with self.lock:
            return max(0.0, self.resume_at - time.monotonic())


_GATES: dict[tuple[str, str], _Gate] = {}
_GATES_LOCK = threading.Lock()


def gate(origin: str, email: str, slots: int) -> _Gate:
    """The process's gate for one mailbox of one Graph host."""
    key = (origin.lower(), email.lower())
    with _GATES_LOCK:
        found = _GATES.get(key)
        if found is None:
            found = _GATES[key] = _Gate(slots)
        return found


@dataclass(frozen=True, slots=True)
class SubRequest:
    """One request of a ``$batch``: ``url`` relative to the Graph root (``/users/...``)."""

    method: str
    url: str
    body: Any = None


@dataclass(frozen=True, slots=True)
class SubResponse:
    """One answer of a ``$batch``."""

    status: int
    headers: dict[str, str]
    body: Any

    def error(self, waited: float = 0.0) -> GraphError:
        """The answer as a GraphError."""
        return GraphError.from_body(self.status, self.body, waited=waited)


def backoff(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (1, 2...) when the server said nothing:
    exponential, capped, with jitter so that parallel clients do not retry in step."""
    ceiling = min(limits.MAX_BACKOFF, limits.BACKOFF * 2.0 ** max(0, attempt - 1))
    return ceiling * (0.5 + random.random() / 2)  # jitter, not cryptography


class GraphHttp:
    """The connection to one mailbox through Graph (thread-safe)."""

    def __init__(self, settings: GraphSettings, auth: Auth) -> None:
        self.settings = settings
        self.auth = auth
        self.base = settings.base
        self._base_url = httpx.URL(self.base + "/")
        self.gate = gate(settings.origin, settings.email, settings.max_in_flight)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.sent = 0
        """HTTP requests sent (a ``$batch`` counts one)."""
        self.sub_requests = 0
        """Requests sent inside batches."""
        self.retries = 0
        self.client = httpx.Client(
            http2=_has_h2(),
            verify=_verify(settings),
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=max(1, settings.max_in_flight),
                                max_keepalive_connections=max(1, settings.max_in_flight)),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        self.pool = ThreadPoolExecutor(max_workers=settings.max_in_flight + 1,
                                       thread_name_prefix=_WORKER)
        self._waiting: set[threading.Event] = set()

    # -- life -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections and the workers; never raises. Whoever still waits (on
        throttling, or for an answer) stops waiting: this client is done with."""
        self._stop.set()
        with self._lock:
            waiting, self._waiting = list(self._waiting), set()
        for event in waiting:
            event.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        try:
            self.client.close()
        except Exception:  # closing must not fail
            log.debug("closing the Graph client failed", exc_info=True)

    def abort(self) -> None:
        """Stop from another thread: waits end and requests in flight fail at once."""
        self.close()

    @property
    def aborted(self) -> bool:
        """Whether :meth:`abort` was called."""
        return self._stop.is_set()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn`` on one of the connection's workers (its requests share the slots)."""
        return self.pool.submit(fn, *args)

    # -- URLs -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (relative to the Graph root, or a link the server
        gave, which must lie under the root)."""
        if path.startswith("/"):
            return self.base + path
        self.check_link(path)
        return path

    def check_link(self, link: str) -> None:
        """Refuse a link outside the Graph root (the token would go there)."""
        try:
            url = httpx.URL(link)
        except (httpx.InvalidURL, TypeError):
            url = None
        if url is None or (url.scheme, url.host, url.port) != (
            self._base_url.scheme, self._base_url.host, self._base_url.port
        ) or not url.path.startswith(self._base_url.path):
            raise ConnectorError(_(
                "Microsoft Graph gave a link outside {where}: refused (check graph_url)"
            ).format(where=self.settings.where))

    def relative(self, link: str) -> str:
        """A link under the root as the relative URL a ``$batch`` takes."""
        self.check_link(link)
        return link[len(self.base):] if link.startswith(self.base) else \
            "/" + link.split("/", 4)[-1]

    # -- one request ------------------------------------------------------------------

    def _headers(self, prefer: Iterable[str] = ()) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.auth.token()}",
                "Prefer": ", ".join([IMMUTABLE_IDS, *prefer])}

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Aborted()

    def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        prefer: Iterable[str] = (),
        idempotent: bool | None = None,
        allow: tuple[int, ...] = (),
        slots: int = 1,
    ) -> httpx.Response:
        """Send one request, retried as the module says; the response when its status is
        2xx or in ``allow``, else GraphError. Raises httpx errors, Aborted."""
        idempotent = method == "GET" if idempotent is None else idempotent
        target = self.url(url)
        started = time.monotonic()
        attempt = refreshed = 0
        while True:
            if self._stop.is_set():
                raise Aborted()
            waited = time.monotonic() - started
            pause = self.gate.wait_time()
            if pause:
                if waited + pause > self.settings.max_wait:
                    raise GraphError(429, "throttled", waited=waited + pause)
                self._sleep(pause)
            try:
                response = self._once(method, target, json, prefer, slots)
            except (httpx.TransportError, RuntimeError) as exc:
                if self._stop.is_set():
                    # Closed under our feet by abort(): httpx says so with a RuntimeError.
                    raise Aborted() from exc
                if not isinstance(exc, httpx.TransportError):
                    raise
                attempt += 1
                delay = backoff(attempt)
                if not idempotent or attempt >= limits.NETWORK_ATTEMPTS or \
                        time.monotonic() - started + delay > self.settings.max_wait:
                    raise
                self._retrying(method, target, type(exc).__name__, delay)
                self._sleep(delay)
                continue
            status = response.status_code
            if status == 401 and self.auth.can_refresh and not refreshed:
                refreshed = 1
                self.auth.invalidate()
                continue
            if status in _RETRY_STATUSES or (idempotent and status in _TRANSIENT):
                attempt += 1
                said = parse_retry_after(response.headers.get("Retry-After"))
                delay = backoff(attempt) if said is None else said
                spent = time.monotonic() - started
                if spent + delay > self.settings.max_wait:
                    raise GraphError.from_body(status, _json(response), waited=spent + delay)
                if status in _RETRY_STATUSES:
                    self.gate.pause(delay)
                self._retrying(method, target, f"HTTP {status}", delay)
                self._sleep(delay)
                continue
            if 200 <= status < 300 or status in allow:
                return response
            raise GraphError.from_body(status, _json(response))

    def _once(self, method: str, url: str, json: Any, prefer: Iterable[str],
              slots: int) -> httpx.Response:
        """One exchange. It runs on a thread of its own while the caller waits for its end
        or for :meth:`abort`: closing a socket from another thread does not wake a read
        blocked on it, so an aborted caller returns at once and leaves the exchange to end
        by itself (the server's answer, or the read timeout). Its slots are given back only
        then: the server still counts it."""
        headers = self._headers(prefer)
        taken = self.gate.take(slots, self._stop)
        done = threading.Event()

        def exchange() -> httpx.Response:
            response = self.client.request(method, url, json=json, headers=headers)
            response.read()
            return response

        def finished(_future: Future) -> None:
            self.gate.give(taken)
            done.set()

        with self._lock:
            if self._stop.is_set():
                self.gate.give(taken)
                raise Aborted()
            self.sent += 1
            self._waiting.add(done)
        future = _on_daemon_thread(exchange)
        future.add_done_callback(finished)
        done.wait()
        with self._lock:
            self._waiting.discard(done)
        if not future.done():
            raise Aborted()
        response: httpx.Response = future.result()
        return response

    def _retrying(self, method: str, url: str, why: str, delay: float) -> None:
        with self._lock:
            self.retries += 1
        log.info("Graph %s %s: %s, trying again in %.1f s", method,
                 httpx.URL(url).path, why, delay)

    def get_json(self, url: str, *, prefer: Iterable[str] = (),
                 allow: tuple[int, ...] = ()) -> Any:
        """GET ``url`` and its JSON body (None for an allowed error status' empty body)."""
        return _json(self.send("GET", url, prefer=prefer, allow=allow))

    # -- $batch -----------------------------------------------------------------------

    def batch(self, requests: list[SubRequest]) -> list[SubResponse]:
        """Send ``requests`` in batches of ``batch_size``, several batches in flight; the
        answers in the order of the requests. Throttled sub-requests are sent again
        (alone); one still throttled past the deadline raises GraphError 429."""
        size = max(1, min(self.settings.batch_size, limits.BATCH_SIZE))
        chunks = [requests[i : i + size] for i in range(0, len(requests), size)]
        if len(chunks) <= 1 or threading.current_thread().name.startswith(_WORKER):
            # One batch, or called from a worker: waiting there on other workers could
            # leave none to run them.
            return [a for chunk in chunks for a in self._batch(chunk)]
        futures = [self.pool.submit(self._batch, chunk) for chunk in chunks]
        out: list[SubResponse] = []
        try:
            for f in futures:
                out.extend(f.result())
        finally:
            for f in futures:
                f.cancel()
        return out

    def _batch(self, requests: list[SubRequest]) -> list[SubResponse]:
        """One batch, with the retries of its throttled sub-requests."""
        answers: dict[int, SubResponse] = {}
        todo = list(range(len(requests)))
        started = time.monotonic()
        attempt = 0
        while todo:
            body = {"requests": [self._sub(str(n), requests[n]) for n in todo]}
            with self._lock:
                self.sub_requests += len(todo)
            got = _responses(_json(self.send(
                "POST", "/$batch", json=body, slots=len(todo),
                idempotent=all(requests[n].method == "GET" for n in todo))))
            again: list[int] = []
            delays: list[float] = []
            for n in todo:
                answer = got.get(str(n))
                if answer is None or answer.status in _RETRY_STATUSES:
                    again.append(n)
                    after = answer.headers.get("retry-after") if answer else None
                    delays.append(parse_retry_after(after) or 0.0)
                    if answer is not None:
                        answers[n] = answer
                else:
                    answers[n] = answer
            if not again:
                break
            attempt += 1
            delay = max(delays) or backoff(attempt)
            spent = time.monotonic() - started
            if spent + delay > self.settings.max_wait:
                raise GraphError(429, "throttled", waited=spent + delay)
            self.gate.pause(delay)
            self._retrying("POST", self.base + "/$batch",
                           f"{len(again)} of {len(todo)} throttled", delay)
            self._sleep(delay)
            todo = again
        return [answers[n] for n in range(len(requests))]

    def _sub(self, rid: str, request: SubRequest) -> dict[str, Any]:
        sub: dict[str, Any] = {"id": rid, "method": request.method, "url": request.url,
                               "headers": {"Prefer": IMMUTABLE_IDS}}
        if request.body is not None:
            sub["body"] = request.body
            sub["headers"]["Content-Type"] = "application/json"
        return sub


def _on_daemon_thread(fn: Callable[[], Any]) -> Future:
    """``fn()`` on a daemon thread (one left waiting on a dead server never holds the
    process at exit, as an executor's worker would)."""
    future: Future = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=run, name=f"{_WORKER}-io", daemon=True).start()
    return future


def _responses(body: Any) -> dict[str, SubResponse]:
    out: dict[str, SubResponse] = {}
    items = body.get("responses") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or "id" not in item:
            continue
        headers = item.get("headers")
        headers = headers if isinstance(headers, dict) else {}
        status = item.get("status")
        out[str(item["id"])] = SubResponse(
            status=status if isinstance(status, int) else 500,
            headers={str(k).lower(): str(v) for k, v in headers.items()},
            body=item.get("body"),
        )
    return out


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return jsonlib.loads(response.content)
    except ValueError:
        return None


def _has_h2() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


def _verify(settings: GraphSettings) -> ssl.SSLContext | bool:
    if settings.insecure_tls:
        return False
    if settings.cafile:
        try:
            return client_context(settings.cafile)
        except CafileError as exc:
            raise ConnectorError(str(exc)) from None  # not a failure trying again mends
    return True
