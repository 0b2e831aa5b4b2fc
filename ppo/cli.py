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
