"""Run one generation at a time in a worker thread and stream its text to an async consumer.

`SerialGenerator` is the shared machinery of the engines that generate token by token
(transformers, llama.cpp): the engine supplies a blocking `run(job)` that produces tokens and
calls `job.update(text_so_far)` after each; this module handles the rest — one generation at a
time per model (an asyncio.Lock per event loop for fair queueing plus a threading.Lock around the
model), stop strings, holding back incomplete characters, the final counts, and stopping the
thread promptly when the consumer stops iterating (`aclose()`, cancellation).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from waza.services.serving.engines.base import RUNTIME_ERROR, Delta, EngineError, Generation


class StopMatcher:
    """Finds stop strings in growing text and says how much of it is safe to emit.

    `feed(text)` takes the whole text so far and returns `(emit_upto, stopped)`: text before
    `emit_upto` can be sent (it can no longer become part of a stop string); when `stopped`, the
    answer ends at `emit_upto` (the stop string itself is left out).
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._searched = 0

    def feed(self, text: str) -> tuple[int, bool]:
        if not self.stops:
            return len(text), False
        start = max(0, self._searched - self._hold)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            return min(hits), True
        self._searched = len(text)
        for keep in range(min(self._hold, len(text)), 0, -1):  # a tail that may start a stop
            if any(s.startswith(text[-keep:]) for s in self.stops):
                return len(text) - keep, False
        return len(text), False


class IncrementalText:
    """The text of a growing list of tokens, decoding only a short window per new token.

    Each step decodes the tokens since the last emitted boundary twice (with and without the
    newest tokens) and appends the difference, the way vLLM and TGI stream, so word-initial
    spaces of SentencePiece tokenizers survive; text ending in an incomplete character (U+FFFD)
    waits for the next token. `final()` adds whatever is still pending.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self.ids: list[int] = []
        self.text = ""
        self._prefix = 0  # window start
        self._read = 0  # tokens already turned into text

    def add(self, token: int) -> str:
        """Append a token; return the whole text so far."""
        self.ids.append(token)
        before = self._decode(self.ids[self._prefix : self._read])
        after = self._decode(self.ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.text += after[len(before) :]
            self._prefix, self._read = self._read, len(self.ids)
        return self.text

    def final(self) -> str:
        """The whole text, pending tokens included."""
        before = self._decode(self.ids[self._prefix : self._read])
        after = self._decode(self.ids[self._prefix :])
        return self.text + after[len(before) :]


@dataclass
class _Final:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class GenerationJob:
    """One generation, shared by the worker thread (producer) and the consumer coroutine.

    The thread sets `prompt_tokens` and `completion_tokens`, calls `update(text)` with the whole
    decoded answer after each token (it returns False when generation must stop: a stop string
    was found or the consumer left), and `finish(text, reason)` at the end. Text is sent as it
    becomes safe to show.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: list[str]) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cancelled = threading.Event()  # the consumer left
        self.stopped = False  # a stop string ended the answer
        self._matcher = StopMatcher(stop)
        self._sent = 0

    @property
    def keep_going(self) -> bool:
        """Whether the thread should generate another token."""
        return not (self.stopped or self.cancelled.is_set())

    def _send(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            self.cancelled.set()

    def update(self, text: str) -> bool:
        """Take the whole answer so far; send what is safe; False = stop generating."""
        if self.stopped:
            return False
        if not text.endswith("\ufffd"):  # else wait for the rest of a multi-byte character
            upto, self.stopped = self._matcher.feed(text)
            if upto > self._sent:
                self._send(text[self._sent : upto])
                self._sent = upto
        return self.keep_going

    def finish(self, text: str, reason: str) -> None:
        """Send the rest of the text and the final counts (reason: "stop" | "length")."""
        if not self.stopped:
            upto, self.stopped = self._matcher.feed(text)
            end = upto if self.stopped else len(text)
            if end > self._sent:
                self._send(text[self._sent : end])
                self._sent = end
        self._send(
            _Final("stop" if self.stopped else reason, self.prompt_tokens, self.completion_tokens)
        )

    def fail(self, error: BaseException) -> None:
        """End the stream with an error."""
        self._send(error)


class SerialGenerator:
    """Mixin: stream generations produced one at a time by a blocking `run(job)` in a thread."""

    _run_lock: threading.Lock
    _loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]

    def _init_serial(self) -> None:
        self._run_lock = threading.Lock()
        self._loop_locks = weakref.WeakKeyDictionary()
        self.tokens_generated = 0  # all completion tokens so far (for tests and metrics)

    def _queue_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        return lock

    @property
    def busy(self) -> bool:
        """Whether a generation is running in a worker thread."""
        return self._run_lock.locked()

    def _thread(self, job: GenerationJob, run: Callable[[GenerationJob], None]) -> None:
        with self._run_lock:
            try:
                if job.keep_going:
                    run(job)
                else:
                    job.finish("", "stop")
            except EngineError as exc:
                job.fail(exc)
            except Exception as exc:
                job.fail(runtime_error(exc))
            finally:
                self.tokens_generated += job.completion_tokens

    async def _stream(
        self, run: Callable[[GenerationJob], None], stop: list[str]
    ) -> AsyncIterator[Delta]:
        """Run `run(job)` in a thread (one at a time) and yield its text as Deltas.

        `run` sets `job.prompt_tokens` and `job.completion_tokens`, calls `job.update` after
        each token and `job.finish` at the end; an exception it raises ends the stream.
        """
        loop = asyncio.get_running_loop()
        job = GenerationJob(loop, stop)
        lock = self._queue_lock()
        await lock.acquire()
        try:
            future = loop.run_in_executor(None, self._thread, job, run)
        except BaseException:
            lock.release()
            raise
        future.add_done_callback(lambda _f: lock.release())
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, _Final):
                    yield Delta(
                        "",
                        finish_reason=item.finish_reason,
                        prompt_tokens=item.prompt_tokens,
                        completion_tokens=item.completion_tokens,
                    )
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, str)
                yield Delta(item)
        finally:
            job.cancelled.set()  # the thread stops at its next token


async def collect(stream: AsyncIterator[Delta]) -> Generation:
    """A whole answer from a stream of Deltas."""
    parts: list[str] = []
    last = Delta("")
    async for delta in stream:
        parts.append(delta.text)
        last = delta
    return Generation(
        text="".join(parts),
        prompt_tokens=last.prompt_tokens or 0,
        completion_tokens=last.completion_tokens or 0,
        finish_reason=last.finish_reason or "stop",
    )


def runtime_error(exc: Exception) -> EngineError:
    """An unexpected exception as an EngineError (OOM when it says so, else RUNTIME_ERROR)."""
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return EngineError("OOM", f"out of memory: {exc}")
    return EngineError(RUNTIME_ERROR, f"{name}: {exc}")
