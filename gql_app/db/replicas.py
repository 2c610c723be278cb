"""Streaming replicas for reads: their pools, their health, and which one a read may use.

Who decides what (DESIGN.md contract 13): `RequestSession` sends its read units here and
every other unit to the primary; this module says which replica may serve a read, from a
check it runs every `REPLICA_CHECK_INTERVAL_MS` in each worker. A replica serves reads
while it answers, is still in recovery (not promoted) and is at most `REPLICA_MAX_LAG_MS`
behind; a read that asks to come after a commit position (`X-Read-After`) only goes to a
replica that has replayed that far. A replica whose connection fails during a read leaves
the rotation at once (the read reruns on the primary); the next check that finds it well
brings it back.

Lag is measured on this worker's clock, not the servers': each check first notes how far
the primary has flushed its WAL, and a replica's lag is how long ago the primary had WAL
the replica has not replayed yet (0 when it has replayed the latest note). An idle primary
thus never makes a replica look behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gql_app.core.config import Settings, normalize_database_url
from gql_app.core.errors import DatabaseBusy, DatabaseUnavailable
from gql_app.db.engine import create_engine
from gql_app.db.errors import _driver_error, describe_error, public_database_error
from gql_app.db.options import AUTOCOMMIT_READS_OPTION
from gql_app.db.postgresql import APPLICATION_NAME, PoolShape
from gql_app.db.reads import _driver_plans

logger = logging.getLogger(__name__)


_POSITION = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def parse_position(text: str | None) -> int | None:
    """A WAL position as PostgreSQL writes it (`16/B374D848`) as a number; None if not one."""
    match = _POSITION.fullmatch(text.strip()) if text is not None else None
    if match is None:
        return None
    return (int(match[1], 16) << 32) | int(match[2], 16)


@dataclass(frozen=True, slots=True)
class ReplicationQueries:
    """The statements of replication (they live in `gql_app.queries`, which the composition
    passes in): the primary's commit and flush positions, a server's recovery and replay."""

    commit_position: Callable[[AsyncConnection], Awaitable[str]]
    flushed_position: Callable[[AsyncConnection], Awaitable[str]]
    replay_position: Callable[[AsyncConnection], Awaitable[tuple[bool, str | None]]]


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What the last check (or a failed read) found of a replica."""

    reachable: bool = False
    replayed: int | None = None  # its `pg_last_wal_replay_lsn()`
    lag_ms: float | None = None  # None: unknown (unreachable, or no note of the primary yet)
    problem: str | None = "not checked yet"  # why it is out of rotation; None: in rotation

    @property
    def in_rotation(self) -> bool:
        return self.problem is None


# sqlstates of a statement cancelled because replay needed what it read (hot standby).
_RECOVERY_CONFLICTS = frozenset({"40001", "40P01"})


def _check_engine(
    settings: Settings, raw_url: str, application_name: str, label: str
) -> AsyncEngine:
    """A one-connection pool for the checks of one server: a busy pool never delays a check,
    and the driver's own timeouts (REPLICA_CHECK_TIMEOUT_MS, connecting and per statement)
    bound each one, cancelling a slow statement cleanly."""
    timeout = settings.replica_check_timeout_ms / 1000
    shape = PoolShape(1, 0, f"{application_name}_check", timeout, f"{label}_check")
    return create_engine(
        settings, url=normalize_database_url(raw_url), raw_url=raw_url, shape=shape
    )


class Replica:
    """One replica: the pool reads use, and its check pool."""

    def __init__(self, settings: Settings, number: int, raw_url: str) -> None:
        self.number = number
        self.name = f"replica {number}"
        self.url: URL = normalize_database_url(raw_url)
        self.application_name = f"{APPLICATION_NAME}_replica_{number}"
        name = self.application_name
        label = f"replica_{number}"
        reads = PoolShape(settings.replica_pool_size, settings.db_max_overflow, name, label=label)
        self.engine = create_engine(settings, url=self.url, raw_url=raw_url, shape=reads)
        # Reads straight on the driver where the primary's would be (`RequestSession`).
        autocommit = self.engine.get_execution_options().get(AUTOCOMMIT_READS_OPTION)
        self.plans = _driver_plans(self.engine) if autocommit else None
        self._checks = _check_engine(settings, raw_url, name, label)
        self.state = ReplicaState()

    async def replay(self, queries: ReplicationQueries) -> tuple[bool, int | None]:
        """Whether it is still in recovery, and how far it replayed (raises if unreachable)."""
        async with self._checks.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            in_recovery, replayed = await queries.replay_position(connection)
        return in_recovery, parse_position(replayed)

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self._checks.dispose()


class ReplicaSet:
    """The replicas of `DATABASE_REPLICA_URLS`, and their health as this worker sees it."""

    def __init__(self, settings: Settings, primary: AsyncEngine, queries: ReplicationQueries):
        self.replicas = [
            Replica(settings, number, url)
            for number, url in enumerate(settings.replica_urls, start=1)
        ]
        self._primary = primary
        self._primary_checks = _check_engine(
            settings, settings.database_url, APPLICATION_NAME, "primary"
        )
        self._queries = queries
        self._max_lag_ms = settings.replica_max_lag_ms
        self._interval = settings.replica_check_interval_ms / 1000
        # (monotonic time, the primary's flush position) of recent checks, oldest first.
        self._flushed: deque[tuple[float, int]] = deque()
        self._window = self._max_lag_ms / 1000 + 2 * self._interval
        self._next = 0
        self._watch: asyncio.Task[None] | None = None

    def report(self) -> list[dict[str, object]]:
        """Each replica as `/readyz` shows it: reachable, lag, in rotation, and why not."""
        return [
            {
                "name": replica.name,
                "reachable": replica.state.reachable,
                "lagMs": None if replica.state.lag_ms is None else round(replica.state.lag_ms),
                "inRotation": replica.state.in_rotation,
                "problem": replica.state.problem,
            }
            for replica in self.replicas
        ]

    def pick(self, after: int | None) -> Replica | None:
        """The next replica in rotation that replayed at least `after`; None: the primary."""
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(self._next + step) % count]
            state = replica.state
            replayed = state.replayed if state.replayed is not None else -1
            if state.in_rotation and (after is None or replayed >= after):
                self._next = (self._next + step + 1) % count
                return replica
        return None

    def read_failed(self, replica: Replica, exc: Exception) -> bool:
        """Whether the read that raised `exc` on `replica` should run again on the primary:
        the replica, not the read, failed. A broken connection also takes it out of rotation."""
        public = public_database_error(exc)
        if isinstance(public, DatabaseUnavailable):
            self._set(replica, ReplicaState(problem=f"unreachable: {describe_error(exc)}"))
            return True
        sqlstate = getattr(_driver_error(exc), "sqlstate", None)
        return isinstance(public, DatabaseBusy) or sqlstate in _RECOVERY_CONFLICTS

    async def commit_position(self) -> str:
        """The primary's WAL position past every commit so far: what a client sends back."""
        async with self._primary.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await self._queries.commit_position(connection)

    async def check(self) -> None:
        """Note the primary's flush position, then check every replica (at once)."""
        await self._note_primary()
        found = await asyncio.gather(
            *(replica.replay(self._queries) for replica in self.replicas), return_exceptions=True
        )
        now = time.monotonic()
        for replica, result in zip(self.replicas, found, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                self._set(replica, ReplicaState(problem=f"unreachable: {describe_error(result)}"))
                continue
            in_recovery, replayed = result
            lag_ms = self._lag_ms(replayed, now)
            problem = self._problem(in_recovery, lag_ms)
            self._set(replica, ReplicaState(True, replayed, lag_ms, problem))

    def _problem(self, in_recovery: bool, lag_ms: float | None) -> str | None:
        """Why a replica that answered is out of rotation; None: it is in."""
        if not in_recovery:
            return "promoted: it is no longer a replica"
        if lag_ms is None:
            return "lag unknown: the primary's position could not be read"
        if lag_ms > self._max_lag_ms:
            return f"lagging {lag_ms:.0f} ms behind (REPLICA_MAX_LAG_MS={self._max_lag_ms})"
        return None

    async def settle(self) -> None:
        """Check until each replica answering has caught up, or for REPLICA_MAX_LAG_MS and two
        intervals: then each one's lag and rotation are what a worker would find
        (`gql-app db-status`)."""
        deadline = time.monotonic() + self._window
        await self.check()
        while time.monotonic() < deadline and any(
            replica.state.reachable and replica.state.lag_ms != 0 for replica in self.replicas
        ):
            await asyncio.sleep(self._interval)
            await self.check()

    async def _note_primary(self) -> None:
        try:
            async with self._primary_checks.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                flushed = parse_position(await self._queries.flushed_position(connection))
        except Exception as exc:  # noqa: BLE001 - lag is then measured on the notes there are
            logger.debug("replica check: the primary's position is unknown: %s", exc)
            return
        if flushed is None:
            return
        now = time.monotonic()
        self._flushed.append((now, flushed))
        while len(self._flushed) > 1 and self._flushed[0][0] < now - self._window:
            self._flushed.popleft()

    def _lag_ms(self, replayed: int | None, now: float) -> float | None:
        """How long ago the primary had flushed WAL beyond `replayed` (0: none it has not)."""
        if not self._flushed:
            return None
        position = replayed if replayed is not None else -1
        for noted_at, flushed in self._flushed:
            if flushed > position:
                return max(0.0, (now - noted_at) * 1000)
        return 0.0

    def _set(self, replica: Replica, state: ReplicaState) -> None:
        before = replica.state
        replica.state = state
        if before.in_rotation and not state.in_rotation:
            logger.warning("%s out of rotation: %s", replica.name, state.problem)
        elif state.in_rotation and not before.in_rotation and before.problem != "not checked yet":
            logger.warning("%s back in rotation", replica.name)

    async def start(self) -> None:
        """Check once (the replicas' state is known before the first request), then keep
        checking in the background until `close`."""
        await self.check()
        self._watch = asyncio.get_running_loop().create_task(self._keep_checking())

    async def _keep_checking(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                logger.exception("replica check failed")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with suppress(asyncio.CancelledError):
                await self._watch
        for replica in self.replicas:
            await replica.dispose()
        await self._primary_checks.dispose()
        _REPLICA_SETS.pop(self._primary, None)


_REPLICA_SETS: weakref.WeakKeyDictionary[AsyncEngine, ReplicaSet] = weakref.WeakKeyDictionary()


def replica_set(
    settings: Settings, primary: AsyncEngine, queries: ReplicationQueries
) -> ReplicaSet:
    """The replicas of `settings` for the primary's engine: the sessions bound to `primary`
    read on them (`replicas_of`) from now on. Call `start` to check them, `close` to end."""
    replicas = _REPLICA_SETS[primary] = ReplicaSet(settings, primary, queries)
    return replicas


def replicas_of(primary: AsyncEngine) -> ReplicaSet | None:
    """The replicas the sessions bound to `primary` read on; None: none configured."""
    return _REPLICA_SETS.get(primary)
