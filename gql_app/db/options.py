"""Execution options that mark a unit of work, and the guard that keeps read units from writing."""

from __future__ import annotations

from typing import Any

WRITE_OPTION = "gql_app_write"


# On the engine: read units run in autocommit. On a connection: this unit is such a read.
AUTOCOMMIT_READS_OPTION = "gql_app_autocommit_reads"


_READ_OPTION = "gql_app_read"


_AUTOCOMMIT_READ = {"isolation_level": "AUTOCOMMIT", _READ_OPTION: True}


class ReadUnitWroteError(RuntimeError):
    """A unit of work that was not opened with `write=True` tried to write."""


def _refuse_writes_in_reads(
    connection: Any, _cursor: Any, statement: Any, parameters: Any, context: Any, _many: bool
) -> tuple[Any, Any]:
    # In autocommit every statement commits alone: a read unit that wrote would not be atomic.
    writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    if writes and connection.get_execution_options().get(_READ_OPTION):
        raise ReadUnitWroteError("a unit of work writes: open it with write=True")
    return statement, parameters  # retval=True: listened to unwrapped, `_observed` knows it
