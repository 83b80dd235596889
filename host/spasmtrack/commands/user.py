"""``spasmtrack user``: clinic users of ``spasmtrack serve`` (passwords from a prompt or
stdin, never from the command line, where other users could read them)."""
from __future__ import annotations

import argparse
import getpass
import sys

from ..errors import UserError
from .dose import add_db_option, store_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="clinic users of the web app: add, list, disable, enable, password")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = ps.add_parser("add", help="add a user (asks for the password)")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=("clinician", "viewer"),
                   help="clinician: may enter and correct doses; viewer: read only")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    add_db_option(a)
    a.set_defaults(func=_add)
    ls = ps.add_parser("list", help="list users")
    add_db_option(ls)
    ls.set_defaults(func=_list)
    for name, hlp in (("disable", "disable a user and end their sessions"), ("enable", "re-enable a user")):
        d = ps.add_parser(name, help=hlp)
        d.add_argument("name")
        add_db_option(d)
        d.set_defaults(func=_disable if name == "disable" else _enable)
    pw = ps.add_parser("password", help="set a new password (ends the user's sessions)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    add_db_option(pw)
    pw.set_defaults(func=_password)


def read_password(from_stdin: bool) -> str:
    """From stdin's first line, or typed twice at a terminal prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UserError("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: pipe it in with --password-stdin")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ; nothing changed")
    return first


def _add(args) -> int:
    from ..doses.log import default_who
    from ..serve.users import Users, check_name, check_password
    check_name(args.name)
    pw = read_password(args.password_stdin)
    check_password(pw)
    Users(store_from(args)).add(args.name, args.role, pw, created_by=default_who())
    print(f"user {args.name} added ({args.role})")
    return 0


def _list(args) -> int:
    from ..analysis.tzutil import fmt_local
    from ..serve.users import Users
    rows = Users(store_from(args)).list()
    if not rows:
        print("no users (add one with `spasmtrack user add NAME --role clinician`)")
    for u in rows:
        state = "disabled" if u["disabled"] else "active"
        print(f"{u['name']:20} {u['role']:10} {state:8} added {fmt_local(u['created_utc_ms'], 'UTC')} "
              f"by {u['created_by']}")
    return 0


def _disable(args) -> int:
    from ..serve.users import Users
    Users(store_from(args)).set_disabled(args.name, True)
    print(f"user {args.name} disabled (open sessions ended)")
    return 0


def _enable(args) -> int:
    from ..serve.users import Users
    Users(store_from(args)).set_disabled(args.name, False)
    print(f"user {args.name} enabled")
    return 0


def _password(args) -> int:
    from ..serve.users import Users
    pw = read_password(args.password_stdin)
    Users(store_from(args)).set_password(args.name, pw)
    print(f"password of {args.name} changed (open sessions ended)")
    return 0
