"""`lantern convert from-hf | to-hf`: move models between Lantern runs and Hugging Face directories."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app

convert_app = typer.Typer(help="Convert models to and from Hugging Face transformers directories (local only).",
                          no_args_is_help=True)
app.add_typer(convert_app, name="convert")


@convert_app.command("from-hf")
def from_hf_command(
    directory: Path = typer.Argument(..., help="A local HF model directory: config.json + *.safetensors (GPT-2, "
                                               "Llama, Mistral, Mixtral, BERT with sentence-transformers pooling)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to create."),
) -> None:
    """Import a Hugging Face model (and its byte-level BPE or WordPiece tokenizer, if present) as a Lantern run."""
    from ..interop import import_hf

    family, has_tokenizer = import_hf(directory, out)
    note = "with its tokenizer" if has_tokenizer else "without a tokenizer (none readable in the directory)"
    typer.echo(f"imported {family.architecture} {note} -> {out}")


@convert_app.command("to-hf")
def to_hf_command(
    run: Path = typer.Argument(..., help="Lantern run directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to create for transformers.AutoModelForCausalLM "
                                                      "(AutoModel or BertForMaskedLM for a BERT)."),
) -> None:
    """Export a Lantern run as a Hugging Face directory (config.json + model.safetensors [+ tokenizer])."""
    from ..interop import export_hf

    family = export_hf(run, out)
    typer.echo(f"exported as {family.architecture} -> {out}")
