#!/usr/bin/python3
"""Debian's Keystone (python3-keystone), its public API served by wsgiref on
127.0.0.1 (no Apache, no uwsgi), for the openstack: tests.

    keystone_serve.py --config-file KEYSTONE.CONF --port N [--port-file F] [--lifetime S]

The database, fernet keys and bootstrap are the test's to make beforehand
(keystone-manage db_sync, fernet_setup, credential_setup, bootstrap).
"""
import argparse, os, sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import serve  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--config-file", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--port-file")
ap.add_argument("--lifetime", type=float, default=600)
a = ap.parse_args()
sys.argv = sys.argv[:1]  # oslo.config reads argv too

from keystone.server.flask import core  # noqa: E402

app = core.initialize_application("public", config_files=[a.config_file])


class Server(WSGIServer):
    pass  # one request at a time: sqlite and threads make "database is locked"


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


serve(make_server("127.0.0.1", a.port, app, server_class=Server, handler_class=Quiet), a.port_file, a.lifetime)
