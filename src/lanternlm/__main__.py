"""`python -m lanternlm ...` runs the same CLI as `lantern ...` (and is what `torchrun -m lanternlm` calls)."""

from .cli import run

run()
