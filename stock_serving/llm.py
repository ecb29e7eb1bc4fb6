"""OpenAI-compatible chat completions: Ollama serves it at /v1, llama.cpp's server too."""

from __future__ import annotations

import httpx


class LLMError(RuntimeError):
    pass


class ChatLLM:
    def __init__(self, base_url: str | None, model: str = "llama3.1", timeout_s: float = 60.0, max_tokens: int = 300):
        self.base_url = (base_url or "").rstrip("/")
        self.model, self.timeout_s, self.max_tokens = model, timeout_s, max_tokens

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
