"""The one TLS context of the process, shared by every HTTP client oob makes.

httpx builds a context for each client unless it is given one, reading the CA bundle each time:
30 to 50 ms a client, paid in the first step of a run that reaches each service (pre-flight's
first look made three). This is the context httpx would build (certifi's bundle, or
`SSL_CERT_FILE` / `SSL_CERT_DIR`), made once: one context serves any number of connections and
threads.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def context() -> ssl.SSLContext:
    """The process's TLS context, made at the first call."""
    import httpx

    return httpx.create_ssl_context()
