"""Measuring edits: image metrics, the evaluation run over a test split, and its chart."""
from .metrics import edit_hits, preservation_errors, psnr, ssim

__all__ = ["edit_hits", "preservation_errors", "psnr", "ssim"]
