"""Persistence: the location, user and ban stores (protocols and SQLite implementations)."""

from sipguard.store.bans import SqliteBanStore
from sipguard.store.base import (
    Binding,
    BindingChange,
    DeleteAor,
    DeleteBinding,
    LocationStore,
    PutBinding,
    SourceAddress,
    SourceFormatError,
    StoreError,
    format_source,
    parse_source,
)
from sipguard.store.memory import MemoryLocationStore
from sipguard.store.sqlite import SCHEMA_VERSION, SqliteLocationStore
from sipguard.store.users import (
    NoSuchUserError,
    SqliteUserStore,
    UserExistsError,
    UserStore,
    UserTable,
    UserValueError,
)

__all__ = [
    "SCHEMA_VERSION",
    "Binding",
    "BindingChange",
    "DeleteAor",
    "DeleteBinding",
    "LocationStore",
    "MemoryLocationStore",
    "NoSuchUserError",
    "PutBinding",
    "SourceAddress",
    "SourceFormatError",
    "SqliteBanStore",
    "SqliteLocationStore",
    "SqliteUserStore",
    "StoreError",
    "UserExistsError",
    "UserStore",
    "UserTable",
    "UserValueError",
    "format_source",
    "parse_source",
]
