"""A small actor runtime on asyncio (ARCHITECTURE §2).

An actor owns its state and a bounded mailbox and runs as one asyncio task; other code talks to
it only through its ActorRef: `tell` (fire and forget; refused when the mailbox is full),
`send` (waits for room, which is how a producer gets backpressure) and `ask` (a reply future
with a timeout). Messages are dispatched by type to the methods marked `@handles(Type)`.

Supervision: an error while handling one message is logged (and given to the asker) and the
actor goes on with the next. When an actor stops, every message still queued that had an asker
fails at once with ActorStopped, so no caller waits for a reply that will never come.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from coup import metrics

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Callable[..., Any])


class ActorStopped(Exception):
    """The actor stopped before it handled the message."""


class MailboxFull(Exception):
    """The actor's mailbox is at its bound; the caller should shed or report OVERLOADED."""


@dataclass(slots=True)
class Envelope:
    message: Any
    reply: asyncio.Future[Any] | None


def handles(*message_types: type) -> Callable[[H], H]:
    """Mark a method as the handler of the given message types."""

    def mark(method: H) -> H:
        method.__handles__ = message_types  # type: ignore[attr-defined]
        return method

    return mark


class Actor:
    """Base class: subclasses set `mailbox_size` and mark handlers with `@handles`."""

    kind: ClassVar[str] = "actor"
    mailbox_size: ClassVar[int] = 1000
    _dispatch: ClassVar[dict[type, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                for message_type in getattr(member, "__handles__", ()):
                    table[message_type] = name
        cls._dispatch = table

    ref: ActorRef[Self]

    async def on_start(self) -> None:
        """Runs before the first message."""

    async def on_stop(self) -> None:
        """Runs after the last message, whatever the reason for stopping."""

    def on_dropped(self, message: Any) -> None:
        """A told message still queued when the actor stopped (asks fail on their own)."""

    def on_failure(self, message: Any, error: BaseException) -> None:
        log.error("%s failed handling %s", self, type(message).__name__,
                  exc_info=(type(error), error, error.__traceback__))

    async def receive(self, message: Any) -> Any:
        name = self._dispatch.get(type(message))
        if name is None:
            raise TypeError(f"{type(self).__name__} cannot handle {type(message).__name__}")
        result = getattr(self, name)(message)
        if isinstance(result, Awaitable):
            result = await result
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


A = TypeVar("A", bound=Actor)


class ActorRef(Generic[A]):
    """The only handle other code holds on an actor (typed by its actor, like Pykka's).

    An idle actor holds no task, no future and no queue: a task is started when a message
    arrives and ends when the mailbox is empty, and the mailbox deque is created with the
    first message. One SessionActor exists per connection and most are idle, so this keeps
    an idle one about a kilobyte lighter (measured with `bench/`, scenario c). Messages are
    still handled one at a time, in order, by at most one task.
    """

    __slots__ = ("_done", "_done_future", "_internal", "_mailbox", "_space", "_started",
                 "_stopping", "_task", "actor")

    def __init__(self, actor: A) -> None:
        self.actor: A = actor
        self._mailbox: deque[Envelope] | None = None
        # System messages (the actor's own follow-ups, control from other actors) bypass the
        # bound: they answer work already admitted, and dropping them would lose that work.
        self._internal: deque[Envelope] | None = None
        self._space: deque[asyncio.Future[None]] | None = None  # senders waiting for room
        self._started = False
        self._stopping = False
        self._done = False  # on_stop has run
        self._done_future: asyncio.Future[None] | None = None  # made when `stopped` is asked
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self._stopping and not self._done

    @property
    def stopped(self) -> asyncio.Future[None]:
        """Resolves once the actor has stopped and run on_stop."""
        if self._done_future is None:
            self._done_future = asyncio.get_running_loop().create_future()
            if self._done:
                self._done_future.set_result(None)
        return self._done_future

    @property
    def depth(self) -> int:
        return (len(self._mailbox) if self._mailbox else 0) + (
            len(self._internal) if self._internal else 0)

    def tell(self, message: Any) -> None:
        """Queue a message; raises MailboxFull at the bound and ActorStopped after stop."""
        self._put(Envelope(message, None))

    async def send(self, message: Any) -> None:
        """Queue a message, waiting while the mailbox is full (backpressure)."""
        while True:
            if not self.alive:
                raise ActorStopped(repr(self.actor))
            if self._queued() < self.actor.mailbox_size:
                break
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._space is None:
                self._space = deque()
            self._space.append(waiter)
            await waiter
        self._append(Envelope(message, None))

    async def ask(self, message: Any, timeout: float = 5.0) -> Any:
        """Queue a message and wait for the handler's result (or its exception)."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._put(Envelope(message, reply))
        return await asyncio.wait_for(reply, timeout)

    def tell_system(self, message: Any) -> None:
        """System messages (the actor's own follow-ups, control from other actors): never refused
        for being over the bound, because dropping them would lose work already admitted."""
        if self._done:
            return
        if self._internal is None:
            self._internal = deque()
        self._internal.append(Envelope(message, None))
        self._wake()

    def stop(self) -> None:
        """Ask the actor to stop after the message it is handling; queued asks then fail."""
        if self._stopping:
            return
        self._stopping = True
        self._wake()
        while self._space:
            waiter = self._space.popleft()
            if not waiter.done():
                waiter.set_exception(ActorStopped(repr(self.actor)))

    def _queued(self) -> int:
        return len(self._mailbox) if self._mailbox else 0

    def _put(self, envelope: Envelope) -> None:
        if not self.alive:
            raise ActorStopped(repr(self.actor))
        if self._queued() >= self.actor.mailbox_size:
            metrics.MAILBOX_OVERFLOWS.labels(self.actor.kind).inc()
            raise MailboxFull(repr(self.actor))
        self._append(envelope)

    def _append(self, envelope: Envelope) -> None:
        if self._mailbox is None:
            self._mailbox = deque()
        self._mailbox.append(envelope)
        self._wake()

    def _wake(self) -> None:
        """Make sure a task is handling the mailbox (or stopping the actor)."""
        if self._task is None and not self._done:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _next(self) -> Envelope | None:
        if self._internal:
            return self._internal.popleft()
        if not self._mailbox:
            return None
        envelope = self._mailbox.popleft()
        while self._space:  # room for one more: let the longest-waiting sender in
            waiter = self._space.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        return envelope

    async def _run(self) -> None:
        """Handle messages until the mailbox is empty (then end: the next message starts a new
        task) or the actor is stopping (then run the stop)."""
        actor = self.actor
        try:
            if not self._started:
                self._started = True
                await actor.on_start()
            while not self._stopping:
                envelope = self._next()
                if envelope is None:
                    self._task = None
                    return
                await self._handle(envelope)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%s stopped after an error in on_start", actor)
        self._stopping = True
        self._fail_pending()
        try:
            await actor.on_stop()
        except Exception:
            log.exception("%s failed in on_stop", actor)
        self._done = True
        if self._done_future is not None and not self._done_future.done():
            self._done_future.set_result(None)

    async def _handle(self, envelope: Envelope) -> None:
        try:
            result = await self.actor.receive(envelope.message)
        except asyncio.CancelledError:
            if envelope.reply is not None and not envelope.reply.done():
                envelope.reply.set_exception(ActorStopped(repr(self.actor)))
            raise
        except Exception as error:
            if envelope.reply is not None:
                if not envelope.reply.done():
                    envelope.reply.set_exception(error)
            else:
                self.actor.on_failure(envelope.message, error)
            return
        if envelope.reply is not None and not envelope.reply.done():
            envelope.reply.set_result(result)

    def _fail_pending(self) -> None:
        while self._space:
            waiter = self._space.popleft()
            if not waiter.done():
                waiter.set_exception(ActorStopped(repr(self.actor)))
        while (envelope := self._next()) is not None:
            if envelope.reply is None:
                try:
                    self.actor.on_dropped(envelope.message)
                except Exception:
                    log.exception("%s failed in on_dropped", self.actor)
            elif not envelope.reply.done():
                envelope.reply.set_exception(ActorStopped(repr(self.actor)))


def start_actor(actor: A) -> ActorRef[A]:
    """Start `actor` on the running loop and return its ref. An actor with an on_start gets its
    task at once, so on_start runs now; others get one with their first message."""
    ref = ActorRef(actor)
    actor.ref = ref
    if type(actor).on_start is not Actor.on_start:
        ref._wake()
    else:
        ref._started = True
    return ref


async def stop_actor(ref: ActorRef[Any], timeout: float = 5.0) -> None:
    """Stop an actor and wait for on_stop; cancel it if it does not stop in time."""
    ref.stop()
    try:
        await asyncio.wait_for(asyncio.shield(ref.stopped), timeout)
    except TimeoutError:
        if ref._task is not None:
            ref._task.cancel()
        await asyncio.gather(ref.stopped, return_exceptions=True)
