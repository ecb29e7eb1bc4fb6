"""OpenAI-compatible chat completions: Ollama serves it at /v1, llama.cpp's server too."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Completion:
    text: str
    cut_off: bool  # the server stopped at its token limit (finish_reason "length")


class LLMError(RuntimeError):
    pass


class LLMBusy(LLMError):
    """Every LLM slot stayed taken for the whole queue timeout: answer without the LLM."""


class ChatLLM:
    """`max_concurrent` completions at a time; a request that cannot get a slot within
    `queue_timeout_s` is refused (LLMBusy) instead of queueing without bound behind a server that
    works one completion at a time."""

    def __init__(self, base_url: str | None, model: str = "llama3.1", timeout_s: float = 60.0, max_tokens: int = 300,
                 max_concurrent: int = 2, queue_timeout_s: float = 10.0):
        if max_concurrent < 1 or queue_timeout_s < 0 or timeout_s <= 0:
            raise ValueError(f"LLM limits must be positive: concurrency {max_concurrent}, queue timeout {queue_timeout_s} s, "
                             f"timeout {timeout_s} s")
        self.base_url = (base_url or "").rstrip("/")
        self.model, self.timeout_s, self.max_tokens = model, timeout_s, max_tokens
        self.max_concurrent, self.queue_timeout_s = max_concurrent, queue_timeout_s
        self._slots = threading.BoundedSemaphore(max_concurrent)

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    def _url(self, path: str) -> str:
        base = self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"
        return f"{base}{path}"

    def reachable(self) -> bool:
        if not self.configured:
            return False
        try:
            return httpx.get(self._url("/models"), timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def complete(self, messages: list[dict]) -> Completion:
        if not self.configured:
            raise LLMError("no LLM configured (LLM_BASE_URL)")
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise LLMBusy(f"the LLM was busy: {self.max_concurrent} answers in progress for {self.queue_timeout_s:g} s")
        try:
            return self._complete(messages)
        finally:
            self._slots.release()

    def stream(self, messages: list[dict]):
        """Yields the completion's text as the server streams it (OpenAI server-sent events), then
        one final Completion with the whole text. Raises LLMError/LLMBusy as complete() does."""
        if not self.configured:
            raise LLMError("no LLM configured (LLM_BASE_URL)")
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise LLMBusy(f"the LLM was busy: {self.max_concurrent} answers in progress for {self.queue_timeout_s:g} s")
        try:
            yield from self._stream(messages)
        finally:
            self._slots.release()

    def _stream(self, messages: list[dict]):
        parts, finish = [], None
        body = {"model": self.model, "messages": messages, "temperature": 0.2, "max_tokens": self.max_tokens, "stream": True}
        try:
            with httpx.stream("POST", self._url("/chat/completions"), json=body, timeout=self.timeout_s) as answer:
                if answer.status_code != 200:
                    raise LLMError(f"LLM answered HTTP {answer.status_code}: {answer.read().decode(errors='replace')[:200]}")
                for line in answer.iter_lines():
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    try:
                        choice = json.loads(line[5:])["choices"][0]
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise LLMError("LLM stream is not a chat completion stream") from None
                    finish = choice.get("finish_reason") or finish
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        parts.append(text)
                        yield text
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM unreachable: {type(exc).__name__}") from None
        text = "".join(parts).strip()
        if not text:
            raise LLMError("LLM returned an empty answer")
        yield Completion(text, finish == "length")

    def _complete(self, messages: list[dict]) -> Completion:
        try:
            answer = httpx.post(
                self._url("/chat/completions"),
                json={"model": self.model, "messages": messages, "temperature": 0.2, "max_tokens": self.max_tokens},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM unreachable: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise LLMError(f"LLM answered HTTP {answer.status_code}: {answer.text[:200]}")
        try:
            choice = answer.json()["choices"][0]
            text, finish = choice["message"]["content"], choice.get("finish_reason")
        except (KeyError, IndexError, ValueError, TypeError):
            raise LLMError("LLM answer is not a chat completion") from None
        if not text or not text.strip():
            raise LLMError("LLM returned an empty answer")
        return Completion(text.strip(), finish == "length")
