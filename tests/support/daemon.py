"""A broker double for the daemon's unit tests: queues, subscriptions with prefetch, ACKs,
receipts and redelivery, on the other end of trio memory streams; and a daemon wired to it.

It is what the daemon's parts need to be tested without ActiveMQ, on trio's MockClock: the
behaviour of a real broker (and ActiveMQ in particular) is the integration tests' job.
"""

from __future__ import annotations

import collections
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from plastrond.broker.connection import BrokerConnection
from plastrond.config import BrokerAddress, Config, load_config
from plastrond.daemon import Daemon
from stompframe import Frame, Heartbeat, Parser, encode

QUEUES = {
    "JOBS": "/queue/plastrond.jobs",
    "JOB_PROGRESS": "/topic/plastrond.job.progress",
    "JOB_STATUS": "/queue/plastrond.job.status",
    "SYNCHRONOUS_JOBS": "/queue/plastrond.jobs.synchronous",
}


@attrs.define
class Message:
    id: str
    destination: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def job_id(self) -> str:
        return dict(self.headers)["PlastronJobId"]

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define
class _Subscription:
    id: str
    destination: str
    prefetch: int
    unacked: dict[str, Message] = attrs.field(factory=dict)


class _Session:
    def __init__(self, broker: FakeBroker, stream: trio.abc.Stream) -> None:
        self.broker = broker
        self.stream = stream
        self.parser = Parser("1.2")
        self.subscriptions: dict[str, _Subscription] = {}
        self.closed = False
        # `serve` (receipts) and `pump` (messages) both send: one frame at a time.
        self._sending = trio.Lock()

    async def send(self, frame: Frame) -> None:
        async with self._sending:
            if not self.closed:
                try:
                    await self.stream.send_all(encode(frame))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.closed = True

    async def serve(self) -> None:
        try:
            while not self.closed:
                try:
                    data = await self.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break
                if not data:
                    break
                for event in self.parser.feed(data):
                    if not isinstance(event, Heartbeat):
                        await self.handle(event)
        finally:
            self.end()

    def end(self) -> None:
        """The session is over: what it did not acknowledge goes back to its queue."""
        if self in self.broker.sessions:
            self.broker.sessions.remove(self)
        self.closed = True
        for sub in self.subscriptions.values():
            queue = self.broker.queues[sub.destination]
            queue.extendleft(reversed(list(sub.unacked.values())))
            sub.unacked.clear()
        self.broker.changed()

    async def handle(self, frame: Frame) -> None:
        broker = self.broker
        broker.frames.append(frame)
        command = frame.command
        if command in ("CONNECT", "STOMP"):
            await self.send(Frame("CONNECTED", [("version", "1.2"), ("heart-beat", "0,0")]))
            return
        if command == "SUBSCRIBE":
            sub_id = frame.get("id", "")
            prefetch = int(frame.get("activemq.prefetchSize", "1000"))
            self.subscriptions[sub_id] = _Subscription(
                sub_id, frame.get("destination", ""), prefetch
            )
        elif command == "UNSUBSCRIBE":
            sub = self.subscriptions.pop(frame.get("id", ""), None)
            if sub is not None:
                broker.queues[sub.destination].extendleft(reversed(list(sub.unacked.values())))
        elif command == "ACK":
            for sub in self.subscriptions.values():
                message = sub.unacked.pop(frame.get("id", ""), None)
                if message is not None:
                    broker.acked.append(message)
        elif command == "SEND":
            destination = frame.get("destination", "")
            headers = [(k, v) for k, v in frame.headers if k not in ("destination", "receipt")]
            broker.sent[destination].append(
                Message(broker.new_id(), destination, headers, frame.body)
            )
        receipt = frame.get("receipt")
        if receipt:
            if broker.hold_receipts:
                broker.held.append((self, receipt))
            else:
                await self.send(Frame("RECEIPT", [("receipt-id", receipt)]))
        if command == "DISCONNECT":
            self.closed = True
        broker.changed()

    async def pump(self) -> None:
        """Push queued messages to the subscriptions, within their prefetch."""
        while not self.closed:
            for sub in list(self.subscriptions.values()):
                queue = self.broker.queues[sub.destination]
                while queue and len(sub.unacked) < sub.prefetch and not self.closed:
                    message = queue.popleft()
                    sub.unacked[message.id] = message
                    await self.send(
                        Frame(
                            "MESSAGE",
                            [
                                ("subscription", sub.id),
                                ("message-id", message.id),
                                ("ack", message.id),
                                ("destination", message.destination),
                                *message.headers,
                            ],
                            message.body,
                        )
                    )
            await self.broker.wait_changed()


class FakeBroker:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.queues: collections.defaultdict[str, collections.deque[Message]] = (
            collections.defaultdict(collections.deque)
        )
        self.sent: collections.defaultdict[str, list[Message]] = collections.defaultdict(list)
        self.acked: list[Message] = []
        self.frames: list[Frame] = []
        self.sessions: list[_Session] = []
        self.connects = 0
        #: while set, receipts are kept back in `held` (a broker that is slow to confirm)
        self.hold_receipts = False
        self.held: list[tuple[_Session, str]] = []
        #: while set, connecting fails
        self.refuse = False
        self._changed = trio.Event()
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"m-{next(self._ids)}"

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def connect(self, address: BrokerAddress) -> BrokerConnection:
        if self.refuse:
            raise OSError(111, "Connection refused")
        self.connects += 1
        client_end, broker_end = trio.testing.memory_stream_pair()
        session = _Session(self, broker_end)
        self.sessions.append(session)
        self.nursery.start_soon(session.serve)
        self.nursery.start_soon(session.pump)
        return await BrokerConnection.handshake(client_end, address, heartbeat=(0, 0))

    def publish(
        self,
        destination: str,
        job_id: str,
        command: str = "echo",
        body: bytes = b"",
        **headers: str,
    ) -> None:
        extra = [("PlastronJobId", job_id), ("PlastronCommand", command), ("persistent", "true")]
        extra += [(k.replace("_", "-"), v) for k, v in headers.items()]
        self.queues[destination].append(Message(self.new_id(), destination, extra, body))
        self.changed()

    def job(self, job_id: str, body: bytes = b"", **args: str) -> None:
        """An asynchronous echo job (args become PlastronArg-* headers)."""
        headers = {f"PlastronArg-{k.replace('_', '-')}": v for k, v in args.items()}
        self.publish(QUEUES["JOBS"], job_id, "echo", body, **headers)

    async def release_receipts(self) -> None:
        held, self.held = self.held, []
        for session, receipt in held:
            await session.send(Frame("RECEIPT", [("receipt-id", receipt)]))

    async def drop(self) -> None:
        """The broker goes away: every connection is cut."""
        for session in list(self.sessions):
            session.closed = True
            await session.stream.aclose()
            session.end()

    def completions(self) -> list[Message]:
        return self.sent[QUEUES["JOB_STATUS"]]

    def completion_ids(self) -> list[str]:
        return [m.job_id for m in self.completions()]

    def acked_ids(self) -> list[str]:
        return [m.job_id for m in self.acked]

    async def until(self, predicate: Any) -> None:
        """Wait until *predicate()* holds: looked at whenever the broker sees a frame, and
        every virtual second (for what changes on the daemon's side alone)."""
        while not predicate():
            with trio.move_on_after(1):
                await self.wait_changed()


def daemon_config(tmp_path: Path, **broker: Any) -> Config:
    settings = {
        "SERVER": "broker.test:61613",
        "MESSAGE_STORE_DIR": str(tmp_path / "msg"),
        "DESTINATIONS": QUEUES,
        "RECONNECT_INITIAL_DELAY": 1,
        "RECONNECT_MAX_DELAY": 8,
        **broker,
    }
    text = json.dumps(
        {
            "REPOSITORY": {
                "REST_ENDPOINT": "http://127.0.0.1:1/rest",
                "RELPATH": "/p",
                "LOG_DIR": str(tmp_path / "logs"),
            },
            "MESSAGE_BROKER": settings,
        }
    )
    path = tmp_path / "plastrond.yml"
    path.write_text(text)  # JSON is YAML
    return load_config(path, environ={})


@asynccontextmanager
async def running_daemon(config: Config, broker: FakeBroker) -> AsyncIterator[Daemon]:
    daemon = Daemon(config, handle_signals=False, connect=broker.connect)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            yield daemon
            nursery.cancel_scope.cancel()
    finally:
        daemon.store.close()
