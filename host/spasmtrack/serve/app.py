"""The Flask application: sign-in gate, CSRF protection, security headers, error pages.

Every page needs a signed-in user (server-side session, see :mod:`.users`); every POST
needs a CSRF token (Flask-WTF); responses are never cached and carry a strict Content
Security Policy (no scripts on the app's own pages; the report page may run only the
report's own inline check script, allowed by its hash).
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from ..report.html import CHECK_JS
from ..store import Store
from . import audit
from .overview import Thresholds
from .users import Users

#: Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = {"web.sign_in", "static"}

APP_CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
           "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
           "object-src 'none'")
_check_js_hash = base64.b64encode(hashlib.sha256(CHECK_JS.encode("utf-8")).digest()).decode()
#: The report is the CLI's self-contained HTML: inline CSS and SVG, one inline script.
REPORT_CSP = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              f"script-src 'sha256-{_check_js_hash}'; frame-ancestors 'self'; base-uri 'none'; "
              "form-action 'none'")


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one ``spasmtrack serve`` process."""

    thresholds: Thresholds = Thresholds()
    behind_proxy: bool = False        # TLS ends at a reverse proxy: secure cookies, X-Forwarded-*
    report_bootstrap: int = 1000      # bootstrap resamples of the report (CLI default)


def create_app(store: Store, config: ServeConfig = ServeConfig(), *,
               secret_key: bytes | None = None) -> Flask:
    """The web app on ``store``. ``secret_key`` signs the session cookie and CSRF tokens; by
    default a fresh random key per process (restarting the server signs everyone out)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        SESSION_COOKIE_NAME="spasmtrack_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.behind_proxy,
        WTF_CSRF_TIME_LIMIT=None,          # the session's own lifetime bounds the token
        MAX_CONTENT_LENGTH=64 * 1024,      # forms only; nothing is uploaded
    )
    app.extensions["spasmtrack"] = {"store": store, "users": Users(store), "config": config}
    if config.behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    from .views import bp
    app.register_blueprint(bp)

    @app.before_request
    def _gate():
        g.user = app.extensions["spasmtrack"]["users"].session_user(session.get("sid"))
        if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
            if request.method == "GET":
                return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
            return render_template("error.html", title="Signed out",
                                   message="You are not signed in (or your session ended). "
                                           "Sign in and try again; nothing was changed."), 401
        return None

    # after the gate, so a refused form is audited with the signed-in user's name
    CSRFProtect(app)

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", APP_CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
        if resp.headers["Content-Security-Policy"] == APP_CSP:
            resp.headers["X-Frame-Options"] = "DENY"
        return resp

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        user = g.get("user")
        audit.record(store, "csrf_refused", user.name if user else None, remote_addr=request.remote_addr,
                     path=request.path, reason=exc.description)
        return render_template("error.html", title="Form refused",
                               message="This form was not accepted: it did not come from a page "
                                       "of this site or it has expired. Nothing was changed. "
                                       "Reload the page and try again."), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return render_template("error.html", title=f"{exc.code} {exc.name}",
                               message=exc.description), exc.code

    return app


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target
