"""The database layer: engines per dialect, the per-request session, models and migrations.

Every dialect difference of the service lives in this package (DESIGN.md contract 8).
"""

from gql_app.db.engine import create_engine, create_migration_engine
from gql_app.db.errors import (
    ConnectionLostError,
    describe_error,
    foreign_key_violation,
    is_stale_statement,
    public_database_error,
    unique_violation,
    violated_foreign_key,
)
from gql_app.db.expressions import one_of
from gql_app.db.options import AUTOCOMMIT_READS_OPTION, WRITE_OPTION, ReadUnitWroteError
from gql_app.db.postgresql import APPLICATION_NAME, copy_records
from gql_app.db.reads import ReadResult, Reads, by_position
from gql_app.db.replicas import (
    ReplicaSet,
    ReplicationQueries,
    parse_position,
    replica_set,
    replicas_of,
)
from gql_app.db.session import RequestSession, SessionClosedError, create_sessionmaker

__all__ = [
    "APPLICATION_NAME",
    "AUTOCOMMIT_READS_OPTION",
    "WRITE_OPTION",
    "ConnectionLostError",
    "ReadResult",
    "ReadUnitWroteError",
    "Reads",
    "ReplicaSet",
    "ReplicationQueries",
    "RequestSession",
    "SessionClosedError",
    "by_position",
    "copy_records",
    "create_engine",
    "create_migration_engine",
    "create_sessionmaker",
    "describe_error",
    "foreign_key_violation",
    "is_stale_statement",
    "one_of",
    "parse_position",
    "public_database_error",
    "replica_set",
    "replicas_of",
    "unique_violation",
    "violated_foreign_key",
]
