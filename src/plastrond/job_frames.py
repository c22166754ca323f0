"""From a broker session's MESSAGE frames to job requests (the stomp mode's side of `jobs/`).

`request_from_frame` reads one frame: the request it asks for, or None for a message that
cannot be answered (no usable job id), which is acknowledged and dropped. A frame past the STOMP
frame limit (`OversizedFrame`) kept only its headers and first bytes: enough to say which job it
is and to refuse it with an error completion.

`take_async_jobs` hands the asynchronous requests of one subscription to the `Intake`, with
their ACK and whether the broker still waits for it.
"""

from __future__ import annotations

import logging
import time
from functools import partial

import trio

from stompframe import OversizedFrame

from .broker.connection import BrokerConnection, Message
from .jobs.intake import Intake
from .jobs.request import JobRequest, MissingJobId, request_from_message

__all__ = ["request_from_frame", "take_async_jobs"]

# (the stomp mode's log, as it was when this was part of the daemon)
log = logging.getLogger("plastrond.daemon")


def _first_headers(frame: Message) -> dict[str, str]:
    """Headers by name, the first occurrence winning (STOMP 1.2)."""
    result: dict[str, str] = {}
    for name, value in frame.headers:
        result.setdefault(name, value)
    return result


def request_from_frame(
    conn: BrokerConnection, frame: Message, *, synchronous: bool, max_body: int
) -> JobRequest | None:
    """The request *frame* asks for; None (the frame acknowledged) when it cannot be answered."""
    body_size = None
    if isinstance(frame, OversizedFrame):
        body, body_size = frame.body_prefix, frame.size
        log.warning(
            "message %s from %s: body of %d bytes over the STOMP frame limit, dropped unread",
            frame.get("message-id"),
            frame.get("destination"),
            frame.size,
        )
    else:
        body = frame.body
    try:
        return request_from_message(
            _first_headers(frame),
            body,
            synchronous=synchronous,
            received=time.time(),
            max_body=max_body,
            body_size=body_size,
        )
    except MissingJobId as e:
        log.error(
            "dropped message %s from %s: %s (it cannot be answered)",
            frame.get("message-id"),
            frame.get("destination"),
            e,
        )
        conn.ack(frame)
        return None


async def take_async_jobs(
    conn: BrokerConnection,
    sub_id: str,
    frames: trio.MemoryReceiveChannel[Message],
    intake: Intake,
    max_body: int,
) -> None:
    """Offer the requests of subscription *sub_id* to *intake*, until the session ends."""

    def live() -> bool:
        # The broker waits for the ACKs of this subscription's messages while both the
        # session and the subscription are open; after that it gives them again.
        return conn.is_open and sub_id in conn.protocol.subscriptions

    async for frame in frames:
        request = request_from_frame(conn, frame, synchronous=False, max_body=max_body)
        if request is not None:
            await intake.offer(request, partial(conn.ack, frame), live)
