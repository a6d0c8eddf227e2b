# Types of the optional C accelerator (source: accel_c/). Fast paths return None when unsure.
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

def split_message(
    data: bytes,
    start: int,
    max_header_size: int,
    max_headers: int,
    max_header_line: int,
    max_via: int,
    spelled: dict[str, str] | object,
    header_key: Callable[[str], str | None],
    singletons: frozenset[str],
    value_types: tuple[type, type, type, type],
    /,
) -> (
    tuple[
        str,
        list[tuple[str, str, str, str | None]],
        dict[str, list[int]],
        str | None,
        int,
        dict[str, Any],
        Any,
    ]
    | None
): ...
def via(text: str, via_type: type[T], /) -> T | None: ...
def name_addr(text: str, name_addr_type: type[T], uri_type: type[U], /) -> T | None: ...
def sip_uri(text: str, uri_type: type[T], /) -> T | None: ...
def auth(text: str, auth_type: type[T], /) -> T | None: ...
def cseq(text: str, cseq_type: type[T], /) -> T | None: ...
def via_list(
    fields: list[Any], positions: list[int], via_type: type[T], /
) -> tuple[T, ...] | None: ...
def name_addr_list(
    fields: list[Any], positions: list[int], name_addr_type: type[T], uri_type: type[U], /
) -> tuple[T, ...] | None: ...
def get_param(params: tuple[tuple[str, str | None], ...], name: str, /) -> str | None: ...
def header_names(spelled: dict[str, str], /) -> object: ...
