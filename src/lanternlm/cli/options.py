"""Options shared by several commands."""

import typer

SET_OPTION = typer.Option([], "--set", "-s", metavar="KEY=VALUE",
                          help="Override a config field, e.g. --set n_layer=4 --set train.max_iters=500 (repeatable).")
DEVICE = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N | mps [train.device]; default: auto.")
WEIGHTS = typer.Option(None, "--dtype", help="int8: quantize the weights at load (CPU; see `lantern quantize`); "
                                              "default: as the run stores them.")
MAX_WORKERS = 256  # processes or threads one command may start (each holds its own copy of the work's data)


def progress_console(quiet: bool):
    """(console, disabled) for a progress display: stderr, silent with --quiet or when stderr is not a terminal
    (a log would only keep the display's last frame, printed just before any error)."""
    from rich.console import Console

    console = Console(stderr=True)
    return console, quiet or not console.is_terminal
