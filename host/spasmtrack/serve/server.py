"""Run the web app with waitress (a production WSGI server, pure Python)."""
from __future__ import annotations

import ipaddress
import sys

from ..errors import UserError
from ..store import Store
from .app import ServeConfig, create_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(store: Store, host: str, port: int, config: ServeConfig, threads: int = 4) -> None:
    """Serve until interrupted; prints the URL (with the real port when ``port`` is 0)."""
    from waitress.server import create_server
    if not is_loopback(host) and not config.behind_proxy:
        raise UserError(f"refusing to listen on {host} without --behind-proxy")
    app = create_app(store, config)
    try:
        server = create_server(app, host=host, port=port, threads=threads,
                               trusted_proxy=None, ident="spasmtrack")
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    print(f"spasmtrack serve: http://{shown}:{server.effective_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        print("spasmtrack serve: stopped", file=sys.stderr)
    finally:
        server.close()
