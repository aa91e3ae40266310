"""The names of the exported generator graph's inputs and output, shared by every engine.

Kept in their own module so the exporter and the runtimes that read its graphs depend on it,
not on each other.
"""
INPUT_NAMES = ("image", "attributes")
STYLE_INPUT = "style"  # a third input, only in graphs of style models (trained with --style)
OUTPUT_NAME = "edited"
