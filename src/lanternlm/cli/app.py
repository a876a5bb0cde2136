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
