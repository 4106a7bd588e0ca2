"""Answers serialised by orjson straight from the services' dataclasses.

FastAPI serialises a returned pydantic model with pydantic-core, which is fast once the model
exists; building the ~50 models of a recommendation (medications, evidence, pairs) cost more
than the recommender's model call. orjson serialises the services' frozen dataclasses and the
cached pair dicts in one C call instead. Routes that answer this way keep ``response_model``
for the OpenAPI document, and the route tests validate the bytes against it.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class OrjsonResponse(Response):
    """``application/json`` rendered by orjson (dataclasses, dicts, lists, tuples, floats)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content``; NaN and infinities become null."""
        return orjson.dumps(content)
