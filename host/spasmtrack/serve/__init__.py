"""``spasmtrack serve``: the clinic web app (sign-in, patient list, patient page with the
clinician report, dose entry and correction, exports, audit log).

Flask + Flask-WTF (CSRF) + argon2-cffi (password hashes), served by waitress on 127.0.0.1
by default. It never advises a dose. See README.md "Running the clinic web app".
"""
from .app import ServeConfig, create_app  # noqa: F401
from .overview import Thresholds  # noqa: F401
