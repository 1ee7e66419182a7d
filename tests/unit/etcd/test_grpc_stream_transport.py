"""``grpcsnapshot.stream`` against a real gRPC server on loopback (grpcio's own server standing in
for etcd's Maintenance service, whose messages are already checked in test_grpcsnapshot.py): the
messages arrive in order and whole, and a server that stops sending is cut off by the watchdog with
a clear ``EtcdUnavailable``, whichever thread reads the stream; a consumer that pauses is not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from drkit.etcd import grpcsnapshot
from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import EtcdUnavailable


class _Maintenance(grpc.GenericRpcHandler):
    def __init__(self, messages: list[bytes], stall: threading.Event | None) -> None:
        self.messages = messages
        self.stall = stall

    def service(self, handler_call_details: Any) -> Any:
        if handler_call_details.method != grpcsnapshot.METHOD:
            return None

        def snapshot(_request: bytes, context: Any) -> Iterator[bytes]:
            yield from self.messages
            if self.stall is not None:
                while not self.stall.wait(0.05) and context.is_active():
                    pass

        return grpc.unary_stream_rpc_method_handler(
            snapshot, request_deserializer=None, response_serializer=None
        )


def _serve(messages: list[bytes], stall: threading.Event | None = None) -> tuple[Any, EtcdEndpoint]:
    from concurrent.futures import ThreadPoolExecutor

    server = grpc.server(ThreadPoolExecutor(2), handlers=[_Maintenance(messages, stall)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, EtcdEndpoint.parse(f"http://127.0.0.1:{port}")


def test_messages_arrive_whole_and_in_order() -> None:
    messages = [bytes([i]) * (32 << 10) for i in range(200)]
    server, endpoint = _serve(messages)
    try:
        got = list(grpcsnapshot.stream(endpoint, None, timeout=10.0))
    finally:
        server.stop(None)
    assert got == messages


def test_a_server_that_stops_sending_is_cut_off_by_the_watchdog() -> None:
    stall = threading.Event()
    server, endpoint = _serve([b"x" * 100, b"y" * 100], stall)
    got: list[bytes] = []
    started = time.monotonic()
    try:
        with pytest.raises(EtcdUnavailable, match=r"snapshot \(gRPC\): no data for 1s"):
            got.extend(grpcsnapshot.stream(endpoint, None, timeout=1.0))
    finally:
        stall.set()
        server.stop(None)
    assert got == [b"x" * 100, b"y" * 100]
    assert time.monotonic() - started < 8  # cut off after about the timeout, not left hanging


def test_a_consumer_that_holds_a_message_longer_than_the_timeout_is_not_cut_off() -> None:
    """The watchdog counts the wait for etcd, not the consumer's own pauses (a slow store, or a
    stream started early and taken once the repository has opened)."""
    messages = [bytes([i]) * (32 << 10) for i in range(20)]
    server, endpoint = _serve(messages)
    got: list[bytes] = []
    try:
        for i, message in enumerate(grpcsnapshot.stream(endpoint, None, timeout=1.0)):
            got.append(message)
            if i in (0, 10):
                time.sleep(2.5)  # longer than the timeout, and than the watchdog's period
    finally:
        server.stop(None)
    assert got == messages
