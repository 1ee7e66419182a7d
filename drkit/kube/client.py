"""A thin raw client of the Kubernetes API: kubeconfig or in-cluster credentials from the ``kubernetes``
package, requests sent through its ``ApiClient`` (so that exec plugins, token refresh and TLS settings
all work), bodies returned as bytes or parsed JSON. The generated model classes are never used: they
are slow and they drop fields they do not know.

    with KubeClient.from_kubeconfig(Path("~/.kube/config"), "prod") as kube:
        kube.get_json("/api/v1/namespaces")
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from drkit import deadline
from drkit.deadline import DeadlineExceeded
from drkit.errors import ConfigError
from drkit.kube.errors import (
    KubeAPIError,
    KubeForbidden,
    KubeGone,
    KubeNotFound,
    KubeTimeout,
    KubeUnavailable,
)

JSON = "application/json"
DEFAULT_POOL_SIZE = 8
_IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawResponse:
    status: int
    content_type: str
    body: bytes


class KubeClient:
    """Raw HTTP requests to one API server, with the credentials of one kubeconfig context.

    Thread-safe: the connection pool is shared (``pool_size`` connections).

    ``timeout``: the deadline of each request, in seconds, every retry of the connection pool
    included (default: ``drkit.deadline.current().metadata``, the CLI's ``--timeout``). A request
    still unanswered after ``drkit.deadline.Timeouts.slow_seconds`` is reported once (WARNING); one
    unanswered at the deadline raises ``KubeTimeout`` naming the server (final: not retried)."""

    def __init__(
        self, api: k8s_client.ApiClient, *, context: str | None, timeout: float | None = None
    ) -> None:
        self._api = api
        self.context = context
        limits = deadline.current()
        self.timeout = timeout if timeout is not None else limits.metadata
        self._slow = min(limits.slow_seconds, self.timeout / 4)
        self._warned_slow = False

    @property
    def server(self) -> str:
        host: str = self._api.configuration.host
        return host

    @classmethod
    def from_kubeconfig(
        cls,
        path: Path | None = None,
        context: str | None = None,
        *,
        timeout: float | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> KubeClient:
        """Credentials from ``path`` (else ``$KUBECONFIG``, else ``~/.kube/config``) and ``context`` (else
        its current context). Inside a pod with no kubeconfig at all, the pod's service account.

        Raises ``ConfigError`` naming the file and what is wrong with it (missing, unreadable, no such
        context)."""
        configuration = k8s_client.Configuration()
        if path is None and context is None and _in_pod_without_kubeconfig():
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except ConfigException as exc:
                raise ConfigError(f"in-cluster configuration: {exc}") from exc
            used_context: str | None = None
        else:
            file = _kubeconfig_file(path)
            used_context = _check_context(file, context)
            try:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=file,
                    context=used_context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"cannot use this kubeconfig: {exc}", file=file) from exc
        configuration.connection_pool_maxsize = pool_size
        return cls(k8s_client.ApiClient(configuration), context=used_context, timeout=timeout)

    # --- requests ---------------------------------------------------------------------------------

    def request(
        self,
        verb: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        accept: str = JSON,
        content_type: str = JSON,
    ) -> RawResponse:
        """Send one request; return the answer when its status is 2xx, else raise a ``KubeAPIError``
        subclass carrying the status and the API server's message. Bounded by ``timeout``."""

        def slow(elapsed: float) -> None:
            level = logging.DEBUG if self._warned_slow else logging.WARNING
            self._warned_slow = True
            log.log(
                level,
                "API server %s is slow: %s %s has had no answer for %.1fs; waiting up to %.1fs more",
                self.server,
                verb,
                path,
                elapsed,
                max(0.0, self.timeout - elapsed),
            )

        try:
            return deadline.run(
                lambda: self._request(
                    verb, path, query=query, body=body, accept=accept, content_type=content_type
                ),
                self.timeout,
                slow=self._slow,
                on_slow=slow,
            )
        except DeadlineExceeded:
            raise KubeTimeout(
                f"{verb} {self.server}{path}: no answer within {self.timeout:g}s",
                status=0,
                verb=verb,
                path=path,
                hint="is the API server up and reachable? A slow one may need a longer --timeout "
                "(DRKIT_TIMEOUT)",
            ) from None

    def _request(
        self,
        verb: str,
        path: str,
        *,
        query: Mapping[str, str] | None,
        body: bytes | None,
        accept: str,
        content_type: str,
    ) -> RawResponse:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        _, url, headers, _, _ = self._api.param_serialize(
            verb, path, header_params=headers, auth_settings=["BearerToken"]
        )
        if query:
            url = f"{url}?{urlencode(dict(query))}"
        try:
            if body is None:
                response = self._api.call_api(verb, url, header_params=headers, _request_timeout=self.timeout)
            else:  # call_api re-encodes JSON bodies: send our bytes as they are, through the same pool
                response = rest.RESTResponse(
                    self._api.rest_client.pool_manager.request(
                        verb, url, body=body, headers=headers, timeout=self.timeout, preload_content=False
                    )
                )
            data: bytes = response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:  # the client's own wrapper of TLS failures (status 0)
            raise KubeUnavailable(
                f"{verb} {self.server}{path}: {exc.reason or exc}",
                status=int(exc.status or 0),
                verb=verb,
                path=path,
                hint=_TLS_HINT,
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeUnavailable(
                f"{verb} {self.server}{path}: no answer: {exc}",
                status=0,
                verb=verb,
                path=path,
                hint="is the API server reachable from here (kubeconfig server URL, proxy, firewall)?",
            ) from exc
        status = int(response.status)
        if status >= 300:
            raise api_error(verb, path, status, data)
        return RawResponse(status, str(response.headers.get("Content-Type", "")), data)

    def get_bytes(self, path: str, query: Mapping[str, str] | None = None, *, accept: str = JSON) -> bytes:
        return self.request("GET", path, query=query, accept=accept).body

    def get_json(self, path: str, query: Mapping[str, str] | None = None, *, accept: str = JSON) -> Any:
        return json.loads(self.request("GET", path, query=query, accept=accept).body)

    def send_json(
        self,
        verb: str,
        path: str,
        body: Any,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = JSON,
    ) -> Any:
        """POST/PUT/PATCH/DELETE a JSON body; return the parsed answer."""
        raw = json.dumps(body).encode() if body is not None else None
        answer = self.request(verb, path, query=query, body=raw, content_type=content_type)
        return json.loads(answer.body) if answer.body else None

    # --- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_TLS_HINT = "check the kubeconfig's certificate-authority and client certificate for this server"


def api_error(verb: str, path: str, status: int, body: bytes) -> KubeAPIError:
    """The typed error for an error answer; the message names the request and quotes the API server."""
    reason, message, causes = _status_fields(body)
    said = message or reason or body[:200].decode("utf-8", "replace").strip() or "(empty answer)"
    text = f"{verb} {path}: HTTP {status}: {said}"
    kwargs: dict[str, Any] = {
        "status": status,
        "verb": verb,
        "path": path,
        "reason": reason,
        "api_message": message,
        "status_causes": causes,
    }
    if status == 401:
        return KubeForbidden(
            f"{verb} {path} denied: HTTP 401 Unauthorized (the credentials were not accepted): {said}",
            hint="the kubeconfig's token or client certificate is expired or unknown to this cluster",
            **kwargs,
        )
    if status == 403:
        return KubeForbidden(
            f"{verb} {path} denied: HTTP 403 Forbidden: {said}",
            hint="grant this verb on this resource to the identity drkit runs as (RBAC)",
            **kwargs,
        )
    if status == 404:
        return KubeNotFound(text, **kwargs)
    if status == 410:
        return KubeGone(text, **kwargs)
    if status == 429 or status >= 500:
        return KubeUnavailable(text, **kwargs)
    return KubeAPIError(text, **kwargs)


def _status_fields(body: bytes) -> tuple[str, str, tuple[tuple[str, str, str], ...]]:
    """Reason, message and ``details.causes`` (field, reason, message) of a Status answer."""
    try:
        status = json.loads(body)
    except ValueError:
        return "", "", ()
    if not isinstance(status, dict):
        return "", "", ()
    details = status.get("details")
    raw = details.get("causes") if isinstance(details, dict) else None
    causes = tuple(
        (str(c.get("field") or ""), str(c.get("reason") or ""), str(c.get("message") or ""))
        for c in (raw if isinstance(raw, list) else [])
        if isinstance(c, dict)
    )
    return str(status.get("reason") or ""), str(status.get("message") or ""), causes


def _in_pod_without_kubeconfig() -> bool:
    if not os.environ.get(_IN_CLUSTER_ENV):
        return False
    return not os.environ.get("KUBECONFIG") and not Path("~/.kube/config").expanduser().exists()


def _kubeconfig_file(path: Path | None) -> str:
    if path is not None:
        file = path.expanduser()
        if not file.is_file():
            raise ConfigError("kubeconfig file not found", file=str(file), field="kubeconfig")
        return str(file)
    env = os.environ.get("KUBECONFIG")
    if env:
        return env  # may list several files; the kubernetes package merges them
    default = Path("~/.kube/config").expanduser()
    if not default.is_file():
        raise ConfigError(
            "no kubeconfig: none given, $KUBECONFIG unset, ~/.kube/config absent, and not running in a pod",
            field="kubeconfig",
        )
    return str(default)


def _check_context(file: str, context: str | None) -> str | None:
    """The context to use; a clear ``ConfigError`` when the kubeconfig lacks it (or has none current)."""
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=file)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"cannot read the kubeconfig: {exc}", file=file) from exc
    names = sorted(str(c.get("name")) for c in contexts or [])
    if context is None:
        if not current:
            raise ConfigError("the kubeconfig has no current context: name one", file=file, field="context")
        return str(current["name"])
    if context not in names:
        raise ConfigError(
            f"no context {context!r} in the kubeconfig (it has: {', '.join(names) or 'none'})",
            file=file,
            field="context",
        )
    return context
