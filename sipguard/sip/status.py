"""Status codes and their default reason phrases (RFC 3261 §21 and later extensions)."""

from __future__ import annotations

__all__ = ["REASON_PHRASES", "reason_phrase"]

REASON_PHRASES: dict[int, str] = {
    # RFC 3261 §21.1 provisional
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",  # RFC 6228
    # §21.2 successful
    200: "OK",
    202: "Accepted",  # RFC 6665
    204: "No Notification",  # RFC 5839
    # §21.3 redirection
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    # §21.4 request failure
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",  # RFC 3903
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",  # RFC 4028
    423: "Interval Too Brief",
    429: "Provide Referrer Identity",  # RFC 3892
    433: "Anonymity Disallowed",  # RFC 5079
    439: "First Hop Lacks Outbound Support",  # RFC 5626
    440: "Max-Breadth Exceeded",  # RFC 5393
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",  # RFC 6665
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",  # RFC 3329
    # §21.5 server failure
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",  # RFC 3312
    # §21.6 global failures
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",  # RFC 8197
    608: "Rejected",  # RFC 8688
}

# RFC 3261 §7.2: the first digit names the class of a code this table does not know.
_CLASS_PHRASES = {
    1: "Provisional",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
    6: "Global Failure",
}


def reason_phrase(code: int) -> str:
    """The default reason phrase for ``code`` (its class name when the code is unknown).

    Raises:
        ValueError: when ``code`` is not a SIP status code (100-699).
    """
    if not 100 <= code <= 699:
        raise ValueError(f"not a SIP status code: {code}")
    return REASON_PHRASES.get(code) or _CLASS_PHRASES[code // 100]
