"""Dynamic micro-batching: concurrent requests share one model call.

Each request puts its text on a queue and awaits its own future. One consumer task
takes the first waiting text, collects more for at most ``max_wait_ms`` milliseconds or
until ``max_texts`` are in hand, and runs them as one ``predict_batch`` in a dedicated
model thread. Texts that arrive while a batch runs are waiting when it ends, so under
load batches fill without any waiting. The timer only runs while requests are arriving
concurrently (the last batch held more than one text): a lone client never waits, and
an idle server that gets a burst adds at most ``max_wait_ms`` once it sees one.

The model thread is a single thread: calls never overlap, so onnxruntime's intra-op
threads (the worker's share of the cores) are not oversubscribed by request threads.

Errors stay per request: when a batch fails, its texts are run one by one, and each
request gets its own result or its own exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from nerp_deploy.engine import OnnxEngine
from nerp_infra.documents import Entity

__all__ = ["BatchStats", "MicroBatcher"]


@dataclass
class BatchStats:
    """Counters for ``/info``: how many model calls served how many texts."""

    batches: int = 0
    texts: int = 0
    largest: int = 0
    fallbacks: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def record(self, size: int) -> None:
        self.batches += 1
        self.texts += size
        self.largest = max(self.largest, size)
        self.sizes[size] = self.sizes.get(size, 0) + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "texts": self.texts,
            "mean_texts_per_batch": round(self.texts / self.batches, 3) if self.batches else 0.0,
            "largest": self.largest,
            "per_text_fallbacks": self.fallbacks,
        }


_Item = tuple[str, "asyncio.Future[list[Entity]]"]


class MicroBatcher:
    """Collects concurrent texts into bounded batches for one engine (one event loop)."""

    def __init__(
        self,
        engine: OnnxEngine,
        *,
        max_texts: int = 16,
        max_wait_ms: float = 2.0,
        batch_size: int | None = None,
    ) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be >= 1, got {max_texts}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.engine = engine
        self.max_texts = max_texts
        self.max_wait_s = max_wait_ms / 1000.0
        self.batch_size = batch_size
        self.stats = BatchStats()
        self._last_size = 0
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nerp-model")

    async def predict(self, text: str) -> list[Entity]:
        """Entities of one text, predicted together with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._consume(self._queue), name="nerp-micro-batcher")
        assert self._queue is not None
        future: asyncio.Future[list[Entity]] = loop.create_future()
        await self._queue.put((text, future))
        return await future

    async def predict_many(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of several texts (one request's batch), each queued like a request."""
        return list(await asyncio.gather(*(self.predict(text) for text in texts)))

    async def close(self) -> None:
        """Stop the consumer and the model thread (pending requests are cancelled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                _, future = self._queue.get_nowait()
                future.cancel()
        self._model_thread.shutdown(wait=False, cancel_futures=True)

    async def _collect(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        items = [await queue.get()]
        loop = asyncio.get_running_loop()
        # Wait for company only when requests have been arriving together.
        deadline = loop.time() + (self.max_wait_s if self._last_size > 1 else 0.0)
        while len(items) < self.max_texts:
            try:  # take what is already waiting without a timer
                items.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        self._last_size = len(items)
        return items

    async def _consume(self, queue: asyncio.Queue[_Item]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect(queue)
            live = [(text, future) for text, future in items if not future.done()]
            if not live:
                continue  # every client in this batch went away
            texts = [text for text, _ in live]
            self.stats.record(len(texts))
            try:
                results = await loop.run_in_executor(self._model_thread, self._run, texts)
            except Exception:
                self.stats.fallbacks += 1
                await self._one_by_one(live)
                continue
            for (_, future), entities in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(entities)

    async def _one_by_one(self, items: list[_Item]) -> None:
        """A failed batch: each text alone, so only the text at fault gets the error."""
        loop = asyncio.get_running_loop()
        for text, future in items:
            try:
                entities = await loop.run_in_executor(self._model_thread, self._run, [text])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(entities[0])

    def _run(self, texts: list[str]) -> list[list[Entity]]:
        return self.engine.predict_batch(texts, batch_size=self.batch_size)
