"""``python -m attgan_batch`` runs the CLI (same as the ``attgan-batch`` script)."""
from .cli import entry

entry()
