"""The Kubernetes client's errors: all are ``drkit.errors.KubernetesError`` (exit code 17).

Each carries the HTTP status (0 when no answer came), the verb and path of the request, and the API
server's own message (the ``message`` of its ``Status`` object)."""

from __future__ import annotations

from drkit.errors import KubernetesError


class KubeAPIError(KubernetesError):
    """The API server answered a request with an error status, or did not answer at all."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        verb: str,
        path: str,
        reason: str = "",
        api_message: str = "",
        hint: str | None = None,
        status_causes: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.verb = verb
        self.path = path
        self.reason = reason
        self.api_message = api_message
        self.status_causes = status_causes  # (field, reason, message) of the Status' details.causes


class KubeUnavailable(KubeAPIError):
    """No answer (connection refused, timeout, TLS failure) or a 429/5xx answer: worth a retry."""

    transient = True


class KubeTimeout(KubeAPIError):
    """No answer within the request's deadline (``--timeout``), every retry of the connection pool
    included. Not transient: the deadline already covered the retries, so nothing above retries it
    again (a hung API server would otherwise cost the deadline once per retry of every caller)."""


class KubeForbidden(KubeAPIError):
    """401 or 403: the credentials are not accepted, or RBAC denies this verb on this resource."""


class KubeNotFound(KubeAPIError):
    """404: the object or the resource type does not exist (any more)."""


class KubeGone(KubeAPIError):
    """410 Gone: a ``continue`` token or resourceVersion is too old (etcd compacted it)."""
