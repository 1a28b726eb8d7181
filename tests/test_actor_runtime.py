"""The actor runtime on its own: mailboxes, dispatch, supervision, stop semantics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from coup.actors.runtime import (
    Actor,
    ActorStopped,
    MailboxFull,
    handles,
    start_actor,
    stop_actor,
)


@dataclass(frozen=True)
class Add:
    amount: int


@dataclass(frozen=True)
class Get:
    pass


@dataclass(frozen=True)
class Fail:
    pass


@dataclass(frozen=True)
class Slow:
    gate: asyncio.Event


class Counter(Actor):
    kind = "test"
    mailbox_size = 3

    def __init__(self) -> None:
        self.total = 0
        self.failures: list[str] = []
        self.stopped_cleanly = False

    @handles(Add)
    def add(self, message: Add) -> int:
        self.total += message.amount
        return self.total

    @handles(Get)
    async def get(self, message: Get) -> int:
        await asyncio.sleep(0)
        return self.total

    @handles(Fail)
    def fail(self, message: Fail) -> None:
        raise ValueError("boom")

    @handles(Slow)
    async def slow(self, message: Slow) -> None:
        await message.gate.wait()

    def on_failure(self, message: object, error: BaseException) -> None:
        self.failures.append(type(error).__name__)

    async def on_stop(self) -> None:
        self.stopped_cleanly = True


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_messages_are_handled_in_order_and_asks_get_results() -> None:
    async def scenario() -> None:
        ref = start_actor(Counter())
        ref.tell(Add(2))
        ref.tell(Add(3))
        assert await ref.ask(Get()) == 5
        assert await ref.ask(Add(1)) == 6
        await stop_actor(ref)

    run(scenario())


def test_an_error_in_a_tell_is_logged_and_the_actor_goes_on() -> None:
    async def scenario() -> None:
        actor = Counter()
        ref = start_actor(actor)
        ref.tell(Fail())
        ref.tell(Add(1))
        assert await ref.ask(Get()) == 1
        assert actor.failures == ["ValueError"]
        await stop_actor(ref)

    run(scenario())


def test_an_error_in_an_ask_goes_to_the_asker() -> None:
    async def scenario() -> None:
        ref = start_actor(Counter())
        with pytest.raises(ValueError, match="boom"):
            await ref.ask(Fail())
        assert await ref.ask(Add(4)) == 4
        await stop_actor(ref)

    run(scenario())


def test_a_full_mailbox_refuses_tell_but_send_waits_for_room() -> None:
    async def scenario() -> None:
        ref = start_actor(Counter())
        gate = asyncio.Event()
        ref.tell(Slow(gate))
        await asyncio.sleep(0.01)  # the actor is now blocked inside Slow
        for _ in range(3):
            ref.tell(Add(1))
        with pytest.raises(MailboxFull):
            ref.tell(Add(1))
        waiting = asyncio.create_task(ref.send(Add(10)))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # backpressure: no room yet
        gate.set()
        await asyncio.wait_for(waiting, 1)
        assert await ref.ask(Get()) == 13
        await stop_actor(ref)

    run(scenario())


def test_system_messages_bypass_the_bound() -> None:
    async def scenario() -> None:
        ref = start_actor(Counter())
        gate = asyncio.Event()
        ref.tell(Slow(gate))
        await asyncio.sleep(0.01)
        for _ in range(3):
            ref.tell(Add(1))
        ref.tell_system(Add(100))
        gate.set()
        await asyncio.sleep(0.01)
        assert await ref.ask(Get()) == 103
        await stop_actor(ref)

    run(scenario())


def test_stopping_fails_every_pending_ask_and_runs_on_stop() -> None:
    async def scenario() -> None:
        actor = Counter()
        ref = start_actor(actor)
        gate = asyncio.Event()
        ref.tell(Slow(gate))
        await asyncio.sleep(0.01)
        pending = [asyncio.create_task(ref.ask(Get(), timeout=5)) for _ in range(2)]
        await asyncio.sleep(0.01)
        ref.stop()
        gate.set()
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert all(isinstance(r, ActorStopped) for r in results)
        await ref.stopped
        assert actor.stopped_cleanly
        with pytest.raises(ActorStopped):
            ref.tell(Add(1))

    run(scenario())


def test_an_actor_stuck_in_a_handler_is_cancelled_by_stop_actor() -> None:
    async def scenario() -> None:
        actor = Counter()
        ref = start_actor(actor)
        ref.tell(Slow(asyncio.Event()))  # never released
        await asyncio.sleep(0.01)
        await stop_actor(ref, timeout=0.1)
        assert ref.stopped.done()
        assert actor.stopped_cleanly

    run(scenario())


def test_an_unknown_message_type_is_a_failure_not_a_crash() -> None:
    async def scenario() -> None:
        actor = Counter()
        ref = start_actor(actor)
        ref.tell("not a message")
        assert await ref.ask(Add(1)) == 1
        assert actor.failures == ["TypeError"]
        await stop_actor(ref)

    run(scenario())


def test_ask_times_out_without_breaking_the_actor() -> None:
    async def scenario() -> None:
        ref = start_actor(Counter())
        gate = asyncio.Event()
        with pytest.raises(TimeoutError):
            await ref.ask(Slow(gate), timeout=0.05)
        gate.set()
        assert await ref.ask(Add(2)) == 2
        await stop_actor(ref)

    run(scenario())
