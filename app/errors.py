"""Domain errors, mapped to ``application/problem+json`` in one place (``app.api.problems``).

Messages never contain submitted codes or patient data: they name fields and ids only.
"""

from __future__ import annotations


class MedRecError(Exception):
    """Base class: ``status`` and ``title`` pick the HTTP answer, ``detail`` explains."""

    status = 500
    title = "Internal error"
    headers: dict[str, str] | None = None  # extra response headers, e.g. Retry-After

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(detail={self.detail!r})"


class ModelNotLoaded(MedRecError):
    """No active, loaded version of the requested model."""

    status = 503
    title = "Model not loaded"


class ModelNotFound(MedRecError):
    """The model name or version is not registered."""

    status = 404
    title = "Model not found"


class ArtifactError(MedRecError):
    """An artifact directory is missing, malformed or does not match its registry row."""

    status = 422
    title = "Invalid model artifact"


class ArtifactNotFound(ArtifactError):
    """The artifact directory or its manifest does not exist."""

    status = 404
    title = "Artifact not found"


class ArtifactForbidden(ArtifactError):
    """The artifact path is outside the directories the API may read, or goes through a link."""

    status = 403
    title = "Artifact path not allowed"


class ActivationError(MedRecError):
    """A model version failed verification or warm-up; the previous version keeps serving."""

    status = 409
    title = "Activation failed"


class ConflictError(MedRecError):
    """The resource already exists (e.g. a model version registered twice)."""

    status = 409
    title = "Conflict"


class DdiFileError(MedRecError):
    """A DDI CSV is malformed; the detail names the row and column (never the cell value)."""

    status = 422
    title = "Invalid DDI table"

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None) -> None:
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        self.row = row
        self.column = column
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class AuditUnavailable(MedRecError):
    """The audit log cannot take the request's event (its queue is full): refuse, unaudited."""

    status = 503
    title = "Audit log unavailable"
