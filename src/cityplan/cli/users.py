"""``cityplan users add|list|disable|enable|password``: accounts of the one-map service."""

from __future__ import annotations

import sys

import click

from cityplan.cli._common import FORMATS, note, print_table
from cityplan.cli.serve import ONEMAP_HELP


def _store(onemap: str | None):
    from cityplan.onemap import OneMap
    from cityplan.services.accounts import UserStore

    om = OneMap.open(onemap)
    return om, UserStore(om.store)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _audit(om, action: str, name: str, **detail: object) -> None:
    import getpass

    from cityplan.services.audit import record

    record(om.store, who=f"cli:{getpass.getuser()}", role="admin", action=action, target=name, detail=detail)


@click.group()
def users() -> None:
    """Accounts of `cityplan serve`: admin, reviewer, district office, viewer."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "reviewer", "district", "viewer"]))
@click.option("--district", help="The district a district office reports for (name, 南岗, Nangang or adcode).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--onemap", help=ONEMAP_HELP)
def add(name: str, role: str, district: str | None, password_stdin: bool, onemap: str | None) -> None:
    """Add an account (the password is asked for, or read with --password-stdin)."""
    from cityplan.districts import resolve_district
    from cityplan.services.accounts import check_name, check_password

    check_name(name)
    om, store = _store(onemap)
    adcode = dname = ""
    if district:
        d = resolve_district(district, om.layer_for("districts"))
        adcode, dname = str(d["adcode"]), str(d["name"])
    password = check_password(_password(password_stdin))
    store.add(name, role, password, adcode=adcode, district=dname, by="cli")
    _audit(om, "user.add", name, role=role, adcode=adcode)
    note(f"user {name} ({role}{' · ' + dname if dname else ''}) added to {om.label}")


@users.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--onemap", help=ONEMAP_HELP)
def list_(fmt: str, onemap: str | None) -> None:
    """The accounts: name, role, district, active."""
    _, store = _store(onemap)
    print_table(store.list(), title="Users", fmt=fmt)


@users.command("disable")
@click.argument("name")
@click.option("--onemap", help=ONEMAP_HELP)
def disable(name: str, onemap: str | None) -> None:
    """Disable an account (its sessions end within seconds)."""
    _set_active(name, onemap, active=False)


@users.command("enable")
@click.argument("name")
@click.option("--onemap", help=ONEMAP_HELP)
def enable(name: str, onemap: str | None) -> None:
    """Enable a disabled account."""
    _set_active(name, onemap, active=True)


def _set_active(name: str, onemap: str | None, *, active: bool) -> None:
    om, store = _store(onemap)
    (store.enable if active else store.disable)(name)
    word = "enabled" if active else "disabled"
    _audit(om, f"user.{word[:-1]}", name)
    note(f"user {name} {word}")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--onemap", help=ONEMAP_HELP)
def password(name: str, password_stdin: bool, onemap: str | None) -> None:
    """Set an account's password."""
    om, store = _store(onemap)
    store.set_password(name, _password(password_stdin))
    _audit(om, "user.password", name)
    note(f"password of {name} changed")
