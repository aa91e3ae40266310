"""Image I/O and datasets: decoding and preprocessing for inference, CelebA-format and synthetic sets."""
