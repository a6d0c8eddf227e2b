"""Persistence: the location store Protocol and its memory and SQLite implementations."""

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

__all__ = [
    "SCHEMA_VERSION",
    "Binding",
    "BindingChange",
    "DeleteAor",
    "DeleteBinding",
    "LocationStore",
    "MemoryLocationStore",
    "PutBinding",
    "SourceAddress",
    "SourceFormatError",
    "SqliteLocationStore",
    "StoreError",
    "format_source",
    "parse_source",
]
