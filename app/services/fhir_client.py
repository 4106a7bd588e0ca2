"""Reading a CDS client's FHIR server when the prefetch it sent lacks a key.

One ``GET`` per missing template, with the client's bearer token (``fhirAuthorization``), a
timeout (``MEDREC_CDS_FHIR_TIMEOUT_SECONDS``) and no redirects; only the first page of a search
is read. Any failure raises :class:`PrefetchUnavailable`, which the route answers with 412 as the
CDS Hooks specification asks. The error never carries the server's answer or the patient id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from app.errors import MedRecError


class PrefetchUnavailable(MedRecError):
    """The data a service needs was neither prefetched nor fetchable (CDS Hooks: 412)."""

    status = 412
    title = "Precondition failed"


def render(template: str, context: Mapping[str, Any]) -> str:
    """A prefetch template with ``{{context.<name>}}`` tokens filled in from ``context``."""
    out = template
    for name, value in context.items():
        if isinstance(value, str):
            out = out.replace("{{context.%s}}" % name, value)  # noqa: UP031 (braces are literal)
    if "{{" in out:
        raise PrefetchUnavailable("a prefetch template names a context field that was not sent")
    return out


def fetch(server: str, query: str, token: str, *, timeout: float, key: str) -> dict[str, Any]:
    """``GET {server}/{query}`` with the bearer ``token``; the JSON resource answered.

    Raises:
        PrefetchUnavailable: the server is not http(s), did not answer 200 with a FHIR resource
            in time, or answered something else.
    """
    if not server.startswith(("https://", "http://")):
        raise PrefetchUnavailable("fhirServer must be an http(s) URL")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    try:
        response = httpx.get(f"{server.rstrip('/')}/{query}", headers=headers, timeout=timeout)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        body = None
    if not isinstance(body, dict) or "resourceType" not in body:
        raise PrefetchUnavailable(f"prefetch {key!r} was not sent and the FHIR server did not "
                                  "provide it")  # fmt: skip
    return body
