"""free_port(): a port no other test, worker or outgoing connection is given before its server binds it."""

from __future__ import annotations

import errno
import socket

import pytest

from tests.support.vertex_local_server import free_port


def test_the_port_is_held_against_a_plain_bind():
    port = free_port()
    with socket.socket() as other, pytest.raises(OSError) as refused:
        other.bind(("127.0.0.1", port))  # what a port picked by bind-and-close would have let another process do
    assert refused.value.errno == errno.EADDRINUSE


def test_a_server_binding_it_by_number_with_so_reuseaddr_gets_it():
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn and asyncio's servers do
        server.bind(("127.0.0.1", port))
        server.listen(1)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            server.accept()[0].close()


def test_nothing_listens_on_it():  # the tests that need a refused connection use it so
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=5)


def test_ports_asked_for_in_a_row_differ():
    assert len({free_port() for _ in range(20)}) == 20
