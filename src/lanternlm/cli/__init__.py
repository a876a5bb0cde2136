"""Command-line interface. `main()` turns every user error into one line on stderr and exit code 2."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from ..errors import LanternError
from . import (assistant, convert, demo, embed, encoder, finetune, generate, inspect, prepare, quantize,  # noqa: F401
               serve, tokenizer, train, translate, word2vec)  # (importing them registers their commands)
from .app import app


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="lantern", standalone_mode=False)
    except typer.Exit as exc:  # --help and friends
        return exc.exit_code
    except TyperException as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":
            return _usage_error(exc)
        print(exc.format_message())  # a bare `lantern` (or `lantern tokenizer`) shows what it can do
        return 0
    except LanternError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def _usage_error(exc: TyperException) -> int:
    """Bad flags or arguments (Typer's click errors): one line, exit 2."""
    hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
    print(f"error: {exc.format_message()}{hint}", file=sys.stderr)
    return 2


def run() -> None:
    sys.exit(main())


__all__ = ["app", "main", "run"]
