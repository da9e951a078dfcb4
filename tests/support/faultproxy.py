"""A fault-injecting TCP proxy on 127.0.0.1, between a client and a real server.

    with FaultProxy(server.host, server.port) as proxy:
        settings = ImapSettings("127.0.0.1", user, password, port=proxy.port, security="none")
        proxy.cut_after(50_000)                        # the next 50 kB down, then the link breaks
        proxy.on_command(r"UID MOVE", occurrence=3, when="answer")   # the 3rd move's answer is lost
        proxy.dead()                                   # the server stops answering, for good
        proxy.heal()                                   # every fault lifted, stalls resume

The client connects to ``proxy.port``; each connection accepted opens one to the upstream
server and bytes are forwarded both ways, unchanged, until a fault says otherwise. Faults
are armed and lifted at runtime, from any thread, while connections are live.

Directions: :data:`UP` is client to server, :data:`DOWN` server to client. Byte counts are
of bytes *forwarded*: "cut after N" lets exactly N bytes through, then cuts.

=============================  ==============================================================
fault                          what it simulates
=============================  ==============================================================
``cut_after(n, direction)``    one link failure: the first connection to carry ``n`` more
                               bytes that way (counted from the arming) is cut there, in the
                               middle of an answer or a command. One-shot.
``cut_every(n, direction)``    a flaky link (a NAT or a middlebox that drops long transfers):
                               every connection, new ones included, is cut once it has carried
                               ``n`` bytes that way since it opened. Until healed.
``stall_after(n, direction)``  a link that goes silent mid-answer (a cable pulled, a server
                               frozen): after ``n`` more bytes nothing is forwarded either way,
                               the sockets stay open, no FIN, no RST. One-shot.
``stall()``                    the same, now, on every live connection.
``throttle(bps, direction)``   a slow link: at most ``bps`` bytes per second per connection.
``on_command(regex, n, ...)``  a failure tied to the protocol: the ``n``-th client command line
                               matching ``regex`` (counted over all connections) is cut or
                               stalled ``when="before"`` it reaches the server (the server
                               never sees it) or ``when="answer"``: the server carries it out
                               and its answer (up to the tagged completion) is lost.
``refuse()``                   a server that is down: nothing listens, connections are refused
                               (ECONNREFUSED); ``refuse(how="reset")`` accepts and resets.
``blackhole()``                a server that accepts connections and never says a word (a
                               frozen process, a firewall that drops): no greeting, ever.
``dead()``                     a server dead for good: ``stall()`` + ``blackhole()``.
``heal()``                     the link is back: faults lifted, stalled and black-holed
                               connections resume (held bytes delivered, in order), new
                               connections accepted and forwarded.
=============================  ==============================================================

A cut is ``how="close"`` (FIN: the peer reads EOF, as when a server process dies) or
``how="reset"`` (RST: ECONNRESET, as from a NAT or a firewall that forgot the connection).
Both ends are closed, so the server sees its client go.

Each arming returns a :class:`Fault` whose ``fired`` event is set (and ``fired_at``, a
``time.monotonic()``, noted) when it acts. The proxy counts ``connections`` accepted,
``bytes_up``/``bytes_down`` forwarded, ``cuts`` and ``stalls``, and keeps the client's
command lines (``commands``, tags stripped, LOGIN/AUTHENTICATE arguments left out);
:meth:`FaultProxy.count` counts those matching a regex. Standard library only; one thread
per connection plus the acceptor.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

UP = "up"
"""Client to server."""
DOWN = "down"
"""Server to client."""
BOTH = "both"

#: A client line longer than this without a newline is forwarded without being matched.
MAX_LINE = 64 * 1024
#: How often blocked threads look at the proxy's state, in seconds.
TICK = 0.05
#: Seconds a send may block (a peer that stopped reading) before the connection is dropped.
SEND_TIMEOUT = 10.0


@dataclass(eq=False)
class Fault:
    """One armed fault; ``fired`` is set when it acts (each time, for persistent ones)."""

    kind: str
    direction: str = DOWN
    nbytes: int = 0
    action: str = "cut"
    """"cut" or "stall"."""
    how: str = "close"
    """For cuts: "close" (FIN) or "reset" (RST)."""
    pattern: re.Pattern[str] | None = None
    occurrence: int = 1
    when: str = "before"
    then: Callable[[], object] | None = None
    """Called (in the proxy's thread) right after the fault acts: e.g. ``proxy.refuse``."""
    once: bool = True
    rate: float = 0.0
    fired: threading.Event = field(default_factory=threading.Event)
    fired_at: float | None = None
    hits: int = 0
    """How many times it acted."""
    matches: int = 0
    """Command lines matched so far (``on_command``)."""
    baselines: dict[int, int] = field(default_factory=dict)


class _Conn:
    def __init__(self, cid: int, client: socket.socket) -> None:
        self.id = cid
        self.client = client
        self.upstream: socket.socket | None = None
        self.count = {UP: 0, DOWN: 0}
        self.closed = False
        self.stalled = False
        self.blackholed = False
        self.linebuf = b""
        self.held = {UP: b"", DOWN: b""}
        self.watch: tuple[bytes, Fault] | None = None
        self.watch_buf = b""
        self.thread: threading.Thread | None = None


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:port`` to ``upstream_host:upstream_port`` that injects
    faults on demand (see the module's docstring for each fault and what it simulates)."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.connections = 0
        """Connections accepted (black-holed ones included)."""
        self.bytes_up = 0
        self.bytes_down = 0
        self.cuts = 0
        self.stalls = 0
        self.commands: list[str] = []
        """The client's command lines, tag stripped, in order (over all connections)."""
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._conns: dict[int, _Conn] = {}
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._blackhole = False
        self._reset_new = False
        self._next_id = 0

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Listen (on a free port unless one was given) and start accepting."""
        self._listen()

    def close(self) -> None:
        """Stop accepting, close every connection (both ends), join the threads."""
        self._stopping.set()
        self._unlisten()
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            self._close(conn)
        for conn in conns:
            if conn.thread is not None and conn.thread is not threading.current_thread():
                conn.thread.join(2)

    @property
    def live(self) -> int:
        """Connections open now."""
        with self._lock:
            return sum(not c.closed for c in self._conns.values())

    def count(self, pattern: str) -> int:
        """Client command lines seen so far that match ``pattern`` (case-insensitive)."""
        rx = re.compile(pattern, re.I)
        with self._lock:
            return sum(bool(rx.search(c)) for c in self.commands)

    # -- arming ---------------------------------------------------------------------------

    def cut_after(self, nbytes: int, direction: str = DOWN, *, how: str = "close",
                  then: Callable[[], object] | None = None) -> Fault:
        """Cut the first connection that carries ``nbytes`` more bytes ``direction``."""
        return self._arm(Fault("after", _dir(direction), nbytes, "cut", _how(how), then=then))

    def cut_every(self, nbytes: int, direction: str = DOWN, *, how: str = "close") -> Fault:
        """Cut every connection once it has carried ``nbytes`` bytes ``direction``."""
        return self._arm(Fault("every", _dir(direction), nbytes, "cut", _how(how), once=False))

    def stall_after(self, nbytes: int, direction: str = DOWN,
                    then: Callable[[], object] | None = None) -> Fault:
        """After ``nbytes`` more bytes ``direction`` on one connection, forward nothing more
        on it (either way) until :meth:`heal`; its sockets stay open."""
        return self._arm(Fault("after", _dir(direction), nbytes, "stall", then=then))

    def stall(self) -> Fault:
        """Stall every live connection now."""
        fault = Fault("now", BOTH, action="stall")
        with self._lock:
            conns = [c for c in self._conns.values() if not c.closed]
            for conn in conns:
                conn.stalled = True
            self.stalls += len(conns)
            self._mark(fault)
        return fault

    def throttle(self, bytes_per_second: float, direction: str = BOTH) -> Fault:
        """Forward at most ``bytes_per_second`` per connection ``direction`` (or both)."""
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        return self._arm(Fault("throttle", _dir(direction, both=True), once=False,
                               rate=float(bytes_per_second)))

    def on_command(self, pattern: str, occurrence: int = 1, *, action: str = "cut",
                   when: str = "before", how: str = "close",
                   then: Callable[[], object] | None = None) -> Fault:
        """Cut or stall at the ``occurrence``-th client line matching ``pattern`` (a regular
        expression searched case-insensitively in the line, tag included): ``when="before"``
        it is forwarded, or ``when="answer"``: forwarded, and the server's whole answer to it
        (up to its tagged completion) withheld, then the connection cut (the answer lost) or
        stalled (the answer delivered on :meth:`heal`)."""
        if action not in ("cut", "stall"):
            raise ValueError(f"unknown action {action!r}")
        if when not in ("before", "answer"):
            raise ValueError(f"unknown moment {when!r}")
        if occurrence < 1:
            raise ValueError("occurrence counts from 1")
        return self._arm(Fault("command", UP, action=action, how=_how(how),
                               pattern=re.compile(pattern, re.I), occurrence=occurrence,
                               when=when, then=then))

    def refuse(self, how: str = "refuse") -> None:
        """New connections fail: ``"refuse"`` closes the listening socket (ECONNREFUSED;
        :meth:`heal` listens again on the same port), ``"reset"`` accepts and resets them.
        Live connections are left alone."""
        if how == "refuse":
            self._unlisten()
        elif how == "reset":
            with self._lock:
                self._reset_new = True
        else:
            raise ValueError(f"unknown way to refuse {how!r}")

    @property
    def listening(self) -> bool:
        """Whether new connections reach the listening socket (False after ``refuse()``)."""
        return self._listener is not None

    def blackhole(self) -> None:
        """New connections are accepted and never answered (nothing reaches the server)."""
        with self._lock:
            self._blackhole = True

    def dead(self) -> Fault:
        """The server stops answering for good: every live connection stalls, new ones are
        black-holed. The returned fault's ``fired_at`` is when."""
        with self._lock:
            self._blackhole = True
            return self.stall()

    def heal(self) -> None:
        """Lift every fault: stalled and black-holed connections resume, new connections are
        accepted and forwarded again."""
        with self._lock:
            self._faults.clear()
            self._blackhole = False
            self._reset_new = False
            for conn in self._conns.values():
                conn.stalled = False
                if conn.watch is not None:
                    conn.held[DOWN] += conn.watch_buf
                    conn.watch, conn.watch_buf = None, b""
        if self._listener is None and not self._stopping.is_set():
            self._listen()

    def disarm(self, fault: Fault) -> None:
        """Lift one fault (stalls it caused stay until :meth:`heal`)."""
        with self._lock, contextlib.suppress(ValueError):
            self._faults.remove(fault)

    def _arm(self, fault: Fault) -> Fault:
        with self._lock:
            fault.baselines = {c.id: c.count[fault.direction] for c in self._conns.values()
                               if fault.direction in (UP, DOWN)}
            self._faults.append(fault)
        return fault

    def _mark(self, fault: Fault) -> None:
        fault.hits += 1
        fault.fired_at = time.monotonic()
        fault.fired.set()

    # -- accepting ------------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for attempt in range(50):
            try:
                sock.bind((self.host, self.port))
                break
            except OSError:
                if attempt == 49 or not self.port:
                    sock.close()
                    raise
                time.sleep(0.05)
        sock.listen(64)
        sock.settimeout(TICK)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock
        thread = threading.Thread(target=self._accept, args=(sock,), daemon=True,
                                  name=f"faultproxy-accept-{self.port}")
        self._acceptor = thread
        thread.start()

    def _unlisten(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
            thread, self._acceptor = self._acceptor, None
        if sock is not None:
            sock.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(2)

    def _accept(self, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if self._listener is not sock:
                    return
            try:
                client, _addr = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                reset = self._reset_new
                self.connections += 1
                self._next_id += 1
                conn = _Conn(self._next_id, client)
                conn.blackholed = conn.stalled = self._blackhole
                if not reset:
                    self._conns[conn.id] = conn
            if reset:
                _close_socket(client, "reset")
                continue
            client.settimeout(SEND_TIMEOUT)
            # Forward each piece at once: Nagle's algorithm would add up to 40 ms a command.
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.thread = threading.Thread(target=self._pump, args=(conn,), daemon=True,
                                           name=f"faultproxy-{self.port}-{conn.id}")
            conn.thread.start()

    # -- forwarding -----------------------------------------------------------------------

    def _pump(self, conn: _Conn) -> None:
        try:
            if not conn.blackholed:
                self._connect_upstream(conn)
            while not conn.closed and not self._stopping.is_set():
                if conn.stalled:
                    self._wait_stalled(conn)
                    continue
                if conn.upstream is None:
                    self._connect_upstream(conn)
                    if conn.closed:
                        return
                if any(conn.held.values()):
                    self._resume(conn)
                    continue
                ready, _w, _x = select.select([conn.client, conn.upstream], [], [], TICK)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        self._close(conn)
                        return
                    _quickack(sock)
                    if sock is conn.client:
                        self._from_client(conn, data)
                    else:
                        self._from_server(conn, data)
                    if conn.closed or conn.stalled:
                        break
        except (OSError, ValueError):
            pass
        finally:
            self._close(conn)

    def _connect_upstream(self, conn: _Conn) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._close(conn, "reset")
            return
        upstream.settimeout(SEND_TIMEOUT)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if conn.closed:
                upstream.close()
                return
            conn.upstream = upstream

    def _wait_stalled(self, conn: _Conn) -> None:
        """Hold everything; notice the client giving up (it closes) to free the sockets."""
        while conn.stalled and not conn.closed and not self._stopping.is_set():
            try:
                readable, _w, _x = select.select([conn.client], [], [], TICK)
                if not readable:
                    continue
                # Readable: data the client sent (left in the kernel), or its close.
                peek = conn.client.recv(1, socket.MSG_PEEK)
            except (OSError, ValueError):
                self._close(conn)
                return
            if not peek:
                self._close(conn)
                return
            time.sleep(TICK)  # it sent more: stays unread (a stalled link acknowledges nothing)

    def _resume(self, conn: _Conn) -> None:
        """After a heal: deliver what was held, in order, then the client's pending lines."""
        for direction in (DOWN, UP):
            data, conn.held[direction] = conn.held[direction], b""
            if data:
                self._forward(conn, direction, data)
                if conn.closed or conn.stalled:
                    return
        self._from_client(conn, b"")

    def _from_client(self, conn: _Conn, data: bytes) -> None:
        conn.linebuf += data
        while not conn.closed and not conn.stalled:
            nl = conn.linebuf.find(b"\n")
            if nl < 0:
                if len(conn.linebuf) > MAX_LINE:
                    data, conn.linebuf = conn.linebuf, b""
                    self._forward(conn, UP, data)
                return
            line, conn.linebuf = conn.linebuf[: nl + 1], conn.linebuf[nl + 1 :]
            fault = self._match(line)
            if fault is not None and fault.when == "before":
                self._fire(conn, fault, held=(UP, line))
                return
            self._forward(conn, UP, line)
            if fault is not None:
                tag = line.split(b" ", 1)[0]
                with self._lock:
                    conn.watch, conn.watch_buf = (tag, fault), b""

    def _match(self, line: bytes) -> Fault | None:
        """Record a command line; the command fault it fires, if any."""
        text = line.decode("latin-1").rstrip("\r\n")
        words = text.split(" ", 2)
        shown = " ".join(words[1:]) if len(words) > 1 else text
        if len(words) > 1 and words[1].upper() in ("LOGIN", "AUTHENTICATE"):
            shown = words[1]
        with self._lock:
            self.commands.append(shown[:200])
            for fault in self._faults:
                if fault.kind != "command" or fault.pattern is None:
                    continue
                if fault.pattern.search(text):
                    fault.matches += 1
                    if fault.matches == fault.occurrence:
                        self._faults.remove(fault)
                        return fault
        return None

    def _from_server(self, conn: _Conn, data: bytes) -> None:
        if conn.watch is None:
            self._forward(conn, DOWN, data)
            return
        conn.watch_buf += data
        tag, fault = conn.watch
        if re.search(rb"(?:^|\n)" + re.escape(tag) + rb" ", conn.watch_buf) is None:
            return  # still answering: withhold
        held, conn.watch, conn.watch_buf = conn.watch_buf, None, b""
        self._fire(conn, fault, held=(DOWN, held))

    def _forward(self, conn: _Conn, direction: str, data: bytes) -> None:
        """Send ``data`` on, applying the byte faults and throttles of ``direction``."""
        while data and not conn.closed:
            with self._lock:
                if conn.stalled:
                    conn.held[direction] += data
                    return
                limit, fault = self._limit(conn, direction)
                rate = min((f.rate for f in self._faults if f.kind == "throttle"
                            and f.direction in (direction, BOTH)), default=0.0)
            piece = data if limit is None else data[:limit]
            if rate:
                piece = piece[: max(1, int(rate * TICK))]
            if piece:
                target = conn.upstream if direction == UP else conn.client
                assert target is not None
                target.sendall(piece)
                with self._lock:
                    conn.count[direction] += len(piece)
                    if direction == UP:
                        self.bytes_up += len(piece)
                    else:
                        self.bytes_down += len(piece)
                data = data[len(piece) :]
                if rate:
                    time.sleep(len(piece) / rate)
            if fault is not None and limit == len(piece):
                with self._lock:
                    if fault.once and fault not in self._faults:
                        continue  # another connection fired it meanwhile
                    if fault.once:
                        self._faults.remove(fault)
                self._fire(conn, fault, held=(direction, data))
                return

    def _limit(self, conn: _Conn, direction: str) -> tuple[int | None, Fault | None]:
        """Bytes that may go ``direction`` before a byte fault acts, and that fault."""
        best: tuple[int | None, Fault | None] = (None, None)
        for fault in self._faults:
            if fault.direction != direction or fault.kind not in ("after", "every"):
                continue
            if fault.kind == "every":
                left = fault.nbytes - conn.count[direction]
            else:
                left = fault.baselines.get(conn.id, 0) + fault.nbytes - conn.count[direction]
            left = max(0, left)
            if best[0] is None or left < best[0]:
                best = (left, fault)
        return best

    def _fire(self, conn: _Conn, fault: Fault, held: tuple[str, bytes]) -> None:
        with self._lock:
            self._mark(fault)
            if fault.action == "stall":
                self.stalls += 1
                conn.stalled = True
                direction, data = held
                conn.held[direction] = data + conn.held[direction]
            else:
                self.cuts += 1
        if fault.action == "cut":
            self._close(conn, fault.how)
        if fault.then is not None:
            fault.then()

    def _close(self, conn: _Conn, how: str = "close") -> None:
        with self._lock:
            if conn.closed:
                return
            conn.closed = True
            self._conns.pop(conn.id, None)
        _close_socket(conn.client, how)
        if conn.upstream is not None:
            _close_socket(conn.upstream, "close")


def _close_socket(sock: socket.socket, how: str) -> None:
    with contextlib.suppress(OSError):
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _quickack(sock: socket.socket) -> None:
    # Acknowledge at once (Linux): a server that writes an answer in two small pieces would
    # otherwise wait up to 40 ms for the delayed ACK of the first one, on every command.
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _dir(direction: str, both: bool = False) -> str:
    if direction in (UP, DOWN) or (both and direction == BOTH):
        return direction
    raise ValueError(f"unknown direction {direction!r}: {UP!r}, {DOWN!r}"
                     + (f" or {BOTH!r}" if both else ""))


def _how(how: str) -> str:
    if how not in ("close", "reset"):
        raise ValueError(f"unknown way to cut {how!r}: 'close' or 'reset'")
    return how
