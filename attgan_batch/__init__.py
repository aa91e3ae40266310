"""attgan-batch: batch facial-attribute editing with AttGAN.

Library entry points (the CLI is a thin layer over these)::

    from attgan_batch import Editor
    editor = Editor.from_checkpoint("output/128_shortcut1_inject1_none")
    images = editor.edit(["face.jpg"], ["Blond_Hair=1;Young=0"], sources=["0,1,1,0,0,0,0,1,0,0,1,0,1"])
"""
from .version import __version__

__all__ = ["__version__", "Editor"]


def __getattr__(name: str):  # lazy: keep `import attgan_batch` (and the CLI's --help) free of torch
    if name == "Editor":
        from .editor import Editor

        return Editor
    raise AttributeError(name)
