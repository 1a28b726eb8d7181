"""The bounded outbound queue of one WebSocket connection (PROTOCOL §9).

Frames go straight to the socket's stream while its buffer is small (the common case: one
`stream.write` of bytes encoded once for the whole room). When the client reads slowly and
the stream buffer passes WATERMARK_BYTES, frames wait here instead, and drain as the stream
flushes. Droppable frames (typing) are shed once the queue is half full; a full queue (bytes
or frames) closes the connection with 1013, so one slow client costs the room nothing.

Keeping the backlog here rather than in Tornado's stream buffer is what lets the 1013 close
frame go out promptly: the queue is discarded, and only the small stream buffer is ahead of it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from tornado.iostream import IOStream, StreamClosedError

from coup import metrics

log = logging.getLogger(__name__)

# Bytes allowed in the stream's own buffer before frames queue here instead. Big enough that
# a healthy client never queues, small enough that a close frame is not stuck behind much.
WATERMARK_BYTES = 64 * 1024


class Outbound:
    __slots__ = ("_direct", "_drain_armed", "_on_overflow", "_queue", "_queued_bytes",
                 "_queued_frames", "_stream", "closed", "max_bytes", "max_frames")

    def __init__(self, stream: IOStream, max_bytes: int, max_frames: int,
                 on_overflow: Callable[[], None]) -> None:
        self._stream = stream
        # Plain TCP streams are written with socket.send() while Tornado holds nothing unsent
        # for them (see _send_now); TLS streams always go through Tornado.
        self._direct = type(stream) is IOStream
        self.max_bytes = max_bytes
        self.max_frames = max_frames
        self._on_overflow = on_overflow
        # Created with the first queued frame: most connections never queue, and an empty
        # deque costs 600 bytes per connection (bench scenario c).
        self._queue: deque[tuple[bytes, int]] | None = None  # (bytes, frames in them)
        self._queued_bytes = 0
        self._queued_frames = 0
        self._drain_armed = False
        self.closed = False

    @property
    def queued_frames(self) -> int:
        return self._queued_frames

    def push(self, frame: bytes, droppable: bool = False, frames: int = 1) -> bool:
        """Queue one frame (or `frames` frames encoded back to back, written together); False
        when it was dropped or the connection is gone."""
        stream = self._stream
        if self.closed or stream.closed():
            self.closed = True
            return False
        if not self._queue and _buffered(stream) <= WATERMARK_BYTES:
            if self._direct and not _buffered(stream):
                sent = _send_now(stream, frame)
                if sent == len(frame):
                    return True
                if sent < 0:  # the peer is gone; Tornado's read side closes the stream
                    self.closed = True
                    return False
                frame = frame[sent:]  # the socket buffer is full: Tornado writes the rest
            try:
                future = stream.write(frame)
            except StreamClosedError:
                self.closed = True
                return False
            if stream.closed():  # the write itself can find the peer gone
                self.closed = True
                return False
            if _buffered(stream) > WATERMARK_BYTES:
                self._arm_drain(future)
            return True
        queued = self._queued_frames
        if droppable and (self._queued_bytes * 2 > self.max_bytes
                          or queued * 2 > self.max_frames):
            metrics.WS_OUTBOUND_DROPS.labels("droppable").inc()
            return False
        if self._queued_bytes + len(frame) > self.max_bytes \
                or queued + frames > self.max_frames:
            metrics.WS_OUTBOUND_DROPS.labels("overflow").inc()
            self.discard()
            self._on_overflow()
            return False
        if self._queue is None:
            self._queue = deque()
        self._queue.append((frame, frames))
        self._queued_bytes += len(frame)
        self._queued_frames += frames
        if not self._drain_armed:
            try:
                self._arm_drain(stream.write(b""))
            except StreamClosedError:
                self.closed = True
        return True

    def discard(self) -> None:
        """Drop everything queued (the connection is being closed)."""
        self._queue = None
        self._queued_bytes = 0
        self._queued_frames = 0

    def close(self) -> None:
        self.closed = True
        self.discard()

    def _arm_drain(self, future: Any) -> None:
        self._drain_armed = True
        future.add_done_callback(self._drain)

    def _drain(self, _future: Any) -> None:
        self._drain_armed = False
        stream = self._stream
        if self.closed or stream.closed():
            self.close()
            return
        last = None
        try:
            while self._queue and _buffered(stream) <= WATERMARK_BYTES:
                frame, frames = self._queue.popleft()
                self._queued_bytes -= len(frame)
                self._queued_frames -= frames
                last = stream.write(frame)
        except StreamClosedError:
            self.close()
            return
        if self._queue and last is not None:
            self._arm_drain(last)
        elif self._queue:
            self._arm_drain(stream.write(b""))


def _send_now(stream: IOStream, data: bytes) -> int:
    """Bytes of `data` the socket took at once (0 when its buffer is full), or -1 when the
    connection is gone.

    The common case of a healthy client: the whole frame fits in the socket buffer, and one
    send() costs a fraction of IOStream.write(), which also makes a Future and runs its write
    machinery for each frame (bench scenarios b and d: a fifth of the loop's time). Only called
    when Tornado's own write buffer is empty, so bytes never overtake bytes Tornado holds.
    """
    sock = stream.socket
    if sock is None:
        return -1
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0
    except OSError:
        return -1


def _buffered(stream: IOStream) -> int:
    """Bytes waiting in Tornado's write buffer; Tornado drops the buffer (None) on close."""
    buffer = stream._write_buffer
    return len(buffer) if buffer is not None else 0
