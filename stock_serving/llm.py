"""OpenAI-compatible chat completions: Ollama serves it at /v1, llama.cpp's server too."""

from __future__ import annotations

import threading

import httpx


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

    def complete(self, messages: list[dict]) -> str:
        if not self.configured:
            raise LLMError("no LLM configured (LLM_BASE_URL)")
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise LLMBusy(f"the LLM was busy: {self.max_concurrent} answers in progress for {self.queue_timeout_s:g} s")
        try:
            return self._complete(messages)
        finally:
            self._slots.release()

    def _complete(self, messages: list[dict]) -> str:
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
            text = answer.json()["choices"][0]["message"]["content"]
        except (KeyError, IndexError, ValueError):
            raise LLMError("LLM answer is not a chat completion") from None
        if not text or not text.strip():
            raise LLMError("LLM returned an empty answer")
        return text.strip()
