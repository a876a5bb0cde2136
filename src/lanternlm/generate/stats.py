"""Time to first token and tokens per second: what one generation call reports about its own speed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0  # summed over the batch
    time_to_first_token: float = 0.0  # seconds from the call to the first new token (prefill + one sample)
    total_time: float = 0.0
    first_tokens: int = 0  # tokens that arrived with the first one (one per row of a batch)

    def record(self, tokens: int, elapsed: float) -> None:
        """One decoding step produced `tokens` new tokens, `elapsed` seconds after the call."""
        if tokens and not self.new_tokens:
            self.time_to_first_token, self.first_tokens = elapsed, tokens
        self.new_tokens += tokens
        self.total_time = elapsed

    @property
    def tokens_per_sec(self) -> float:
        """Decoding throughput after the first token: new tokens per second, summed over the batch."""
        decode_time = self.total_time - self.time_to_first_token
        later = self.new_tokens - self.first_tokens
        return later / decode_time if later > 0 and decode_time > 0 else float("nan")

    def summary(self) -> str:
        return (f"{self.new_tokens} tokens, time to first token {1000 * self.time_to_first_token:.1f} ms, "
                f"{self.tokens_per_sec:.1f} tokens/s")
