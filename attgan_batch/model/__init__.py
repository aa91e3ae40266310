"""AttGAN networks, their configuration and the checkpoint loader."""
from .checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from .config import DEFAULT_ATTRS, AttGANSettings
from .discriminator import Discriminator
from .generator import Generator

__all__ = [
    "AttGANSettings", "CheckpointError", "DEFAULT_ATTRS", "Discriminator", "Generator",
    "LoadedCheckpoint", "load_checkpoint",
]
