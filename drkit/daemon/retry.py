"""When a failed run is tried again: exponential backoff, a bounded number of times."""

from __future__ import annotations

from dataclasses import dataclass

from drkit.errors import ConfigError, DrkitError, WrongKey


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # tries after the first failure; 0: never retry
    delay: float = 60.0  # seconds before the first retry; doubles each time
    max_delay: float = 3600.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ConfigError("the number of retries cannot be negative", field="retries")
        if self.delay <= 0 or self.max_delay < self.delay:
            raise ConfigError("expected 0 < retry delay <= maximum delay", field="retry-delay")

    def next_delay(self, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` (1-based) failed;
        None when no attempt is left."""
        if attempt > self.retries:
            return None
        return float(min(self.delay * 2 ** (attempt - 1), self.max_delay))


def permanent(error: BaseException) -> bool:
    """Errors that a retry cannot fix without an operator: bad configuration, a wrong key."""
    return isinstance(error, ConfigError | WrongKey)


def describe(error: BaseException) -> str:
    if isinstance(error, DrkitError):
        return str(error)
    return f"{type(error).__name__}: {error}"
