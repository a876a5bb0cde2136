"""The root `lantern` command; each stage's module adds its subcommands to it."""

import typer

app = typer.Typer(
    name="lantern",
    help="Lantern: train, run and look inside language models you can read.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"lantern {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print Lantern's version and exit.")) -> None:
    """Lantern: train, run and look inside language models you can read."""
