"""The root `lantern` command; each stage's module adds its subcommands to it."""

import typer
from typer.core import TyperGroup

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


class DefaultCommandGroup(TyperGroup):
    """A command group whose first argument, when it names none of its subcommands, goes to the subcommand
    `run`: `lantern eval RUN` and `lantern eval fewshot RUN` side by side."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=DefaultCommandGroup, no_args_is_help=True, rich_markup_mode=None,
                       help="Score a run on held-out data: `lantern eval RUN` (loss, perplexity; a classifier's "
                            "accuracy), `lantern eval fewshot RUN` (prompting, no training).")
app.add_typer(eval_app, name="eval")
