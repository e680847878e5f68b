"""channels.recording: what providers took is written a few at a time, every item once, in order."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

import pytest

from relai_bot.channels.recording import Recorder


async def test_what_comes_in_together_is_written_in_one_call() -> None:
    batches: list[list[int]] = []
    recorder: Recorder[int] = Recorder(lambda items: batches.append(list(items)), what="test", delay=0.01)
    recorder.add(1)
    recorder.add(2, 3)
    assert recorder.busy
    assert await recorder.idle(timeout=5)
    assert batches == [[1, 2, 3]]
    assert not recorder.busy


async def test_what_comes_in_while_writing_is_written_next() -> None:
    batches: list[list[int]] = []
    writing, release = threading.Event(), threading.Event()

    def write(items: Sequence[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            writing.set()
            release.wait(5)

    recorder: Recorder[int] = Recorder(write, what="test", delay=0)
    recorder.add(1)
    await asyncio.to_thread(writing.wait, 5)
    recorder.add(2)
    recorder.add(3)
    release.set()
    assert await recorder.idle(timeout=5)
    assert batches == [[1], [2, 3]]


async def test_a_failed_write_is_logged_and_the_next_ones_go_on(caplog: pytest.LogCaptureFixture) -> None:
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> None:
        if 1 in items:
            raise RuntimeError("database gone")
        batches.append(list(items))

    recorder: Recorder[int] = Recorder(write, what="test ids", delay=0)
    with caplog.at_level(logging.ERROR):
        recorder.add(1)
        assert await recorder.idle(timeout=5)
        recorder.add(2)
        assert await recorder.idle(timeout=5)
    assert batches == [[2]]
    assert "test ids not recorded: 1 sends" in caplog.text


async def test_idle_with_nothing_handed_over() -> None:
    recorder: Recorder[int] = Recorder(lambda items: None, what="test")
    recorder.add()
    assert not recorder.busy
    assert await recorder.idle(timeout=0)
