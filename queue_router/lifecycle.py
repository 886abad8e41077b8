"""``AsyncLifecycle``: ``async with`` support for anything with ``startup()``/``aclose()``."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncLifecycle"]


class AsyncLifecycle:
    """Mixin: ``async with x:`` calls ``await x.startup()`` and, on exit, ``await x.aclose()``."""

    async def startup(self) -> None:
        """Acquire resources; a no-op unless overridden."""

    async def aclose(self) -> None:
        """Release resources; a no-op unless overridden."""

    async def __aenter__(self) -> Self:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
