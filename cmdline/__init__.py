"""What the project's command lines share: errors as one line and exit code 2."""
from __future__ import annotations

import argparse
import dataclasses


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line `<prog>: error: ...` and exit code 2, without
    the usage block (the message says what to fix; --help shows the rest)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_fields(group, defaults, skip: tuple[str, ...] = (), notes: dict | None = None,
               prefix: str = "") -> None:
    """One `--flag` per field of the dataclass instance `defaults` (its values are the flags'
    defaults): booleans as --x/--no-x, tuples as N values (`hidden`-like int tuples: 1 or more),
    None defaults typed by the annotation (int or str); a nested dataclass gets
    `--<field>-<subfield>` flags. `notes`: extra help per field name."""
    for field in dataclasses.fields(defaults):
        if field.name in skip:
            continue
        value, name = getattr(defaults, field.name), prefix + field.name
        if dataclasses.is_dataclass(value):
            add_fields(group, value, notes=notes, prefix=f"{name}_")
            continue
        flag, note = f"--{name.replace('_', '-')}", (notes or {}).get(field.name, "")
        text = f"{note} (default {value})".strip()
        if isinstance(value, bool):
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=value, help=text)
        elif isinstance(value, tuple):
            kind = type(value[0]) if value else float
            nargs = "+" if kind is int else len(value)
            group.add_argument(flag, dest=name, type=kind, nargs=nargs, default=value,
                               metavar=field.name.upper(), help=text)
        else:
            kind = type(value) if value is not None else (int if "int" in str(field.type) else str)
            group.add_argument(flag, dest=name, type=kind, default=value, help=text)


def flag_values(config, prefix: str = "") -> dict:
    """{dest: value} of the flags `add_fields` makes for the dataclass instance `config` (nested
    dataclasses flattened as `<field>_<subfield>`): `parser.set_defaults(**flag_values(c))`
    makes `c` what the flags read when none is given."""
    out = {}
    for field in dataclasses.fields(config):
        value, name = getattr(config, field.name), prefix + field.name
        if dataclasses.is_dataclass(value):
            out.update(flag_values(value, f"{name}_"))
        else:
            out[name] = value
    return out


def given_flags(parser: argparse.ArgumentParser, argv) -> set[str]:
    """The dests of the options actually written on the command line `argv` (not those left at
    their defaults, even where a given value equals the default)."""
    actions = [a for a in parser._actions if a.default is not argparse.SUPPRESS]
    saved, extra = [a.default for a in actions], parser._defaults
    try:
        for a in actions:
            a.default = argparse.SUPPRESS
        parser._defaults = {}
        args, _ = parser.parse_known_args(argv)
    finally:
        for a, d in zip(actions, saved):
            a.default = d
        parser._defaults = extra
    return set(vars(args))


def read_fields(args: argparse.Namespace, cls, prefix: str = ""):
    """The dataclass `cls` built from the flags `add_fields` made for it."""
    values = {}
    for field in dataclasses.fields(cls):
        name = prefix + field.name
        default = cls.__dataclass_fields__[field.name]
        nested = default.default_factory if default.default_factory is not dataclasses.MISSING else None
        if nested is not None and dataclasses.is_dataclass(nested):
            values[field.name] = read_fields(args, nested, f"{name}_")
        elif hasattr(args, name):
            value = getattr(args, name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
