"""Per-key rate limits shared by every worker, counted in Redis.

Each API key may make ``rate_limit_per_minute`` requests per fixed one-minute window; the
counter is one Redis key per API key and window (``INCR`` then ``EXPIRE``), so all workers and
replicas that use the same Redis agree. Over the limit a request gets 429 with ``Retry-After``
(the seconds left in the window). When Redis cannot be reached, ``rate_limit_fail_open`` decides:
``true`` lets requests through (and logs it, at most once a minute), ``false`` answers 503.
Without ``rate_limit_redis_url`` there is no limit.
"""

from __future__ import annotations

import logging
import time

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from app.errors import MedRecError

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60


class RateLimited(MedRecError):
    """The key made more requests than its limit in the current window."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        self.headers = {"Retry-After": str(retry_after)}
        super().__init__(detail)


class RateLimitUnavailable(MedRecError):
    """The shared counter cannot be reached and the limiter is set to fail closed."""

    status = 503
    title = "Rate limiter unavailable"


class RateLimiter:
    """A fixed-window counter per API key in Redis.

    Args:
        redis_url: e.g. ``redis://127.0.0.1:6379/0``.
        per_minute: requests allowed per key and window.
        fail_open: what to do when Redis is unreachable (see the module docstring).
        prefix: the Redis key prefix (tests give each run its own).
    """

    def __init__(
        self, redis_url: str, *, per_minute: int, fail_open: bool, prefix: str = "medrec:rl"
    ) -> None:
        self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=0.25)
        self.per_minute = per_minute
        self.fail_open = fail_open
        self.prefix = prefix
        self._warned_at = -float("inf")

    async def hit(self, key_id: str) -> None:
        """Count one request of ``key_id``.

        Raises:
            RateLimited: over the limit in this window.
            RateLimitUnavailable: Redis is unreachable and the limiter fails closed.
        """
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        counter = f"{self.prefix}:{key_id}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, WINDOW_SECONDS * 2)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._unavailable(exc)
            return
        if int(count) > self.per_minute:
            retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
            raise RateLimited(
                f"more than {self.per_minute} requests a minute for this key",
                retry_after=retry_after,
            )

    def _unavailable(self, exc: Exception) -> None:
        if not self.fail_open:
            raise RateLimitUnavailable("the rate limiter's store is unreachable") from None
        if time.monotonic() - self._warned_at >= WINDOW_SECONDS:
            self._warned_at = time.monotonic()
            logger.warning("rate limiter: Redis unreachable (%s); failing open", type(exc).__name__)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
