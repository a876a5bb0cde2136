"""Command-line interface. `main()` turns every user error into one line on stderr and exit code 2."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from ..errors import LanternError
from . import (convert, demo, embed, generate, inspect, prepare, serve, tokenizer, train, translate,  # noqa: F401
               word2vec)  # (importing them registers their commands)
from .app import app


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="lantern", standalone_mode=False)
    except typer.Exit as exc:  # --help and friends
        return exc.exit_code
    except TyperException as exc:  # bad flags or arguments (Typer's click errors)
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        print(f"error: {exc.format_message()}{hint}", file=sys.stderr)
        return 2
    except LanternError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


__all__ = ["app", "main", "run"]
