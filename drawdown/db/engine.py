"""The async engine and the unit of work every use case runs in."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from drawdown.db.urls import sqlalchemy_url


class Database:
    """One engine (connection pool) per service process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    def unit_of_work(self) -> UnitOfWork:
        """A transaction that rolls back unless ``commit()`` is called (Cosmic Python's UoW)."""
        return UnitOfWork(self._sessions())

    async def dispose(self) -> None:
        await self.engine.dispose()


class UnitOfWork:
    """``async with db.unit_of_work() as uow: ...; await uow.commit()``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.committed = False

    async def __aenter__(self) -> UnitOfWork:
        await self.session.begin()
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self.committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()
