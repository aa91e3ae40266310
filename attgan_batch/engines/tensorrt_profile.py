"""The optimisation profile every TensorRT plan of the generator carries (both flavours)."""
from __future__ import annotations

from typing import Any

from .graph_io import INPUT_NAMES, STYLE_INPUT


def add_batch_profile(builder: Any, config: Any, profile: tuple[int, int, int], *, image_size: int, n_attrs: int,
                      n_style: int = 0) -> None:
    """The one optimisation profile of a plan: batch ``profile`` (min, opt, max) for every input.
    The same call in both TensorRT flavours."""
    lo, opt, hi = profile
    shapes = {INPUT_NAMES[0]: (3, image_size, image_size), INPUT_NAMES[1]: (n_attrs,)}
    if n_style:
        shapes[STYLE_INPUT] = (n_style,)
    opt_profile = builder.create_optimization_profile()
    for name, rest in shapes.items():
        opt_profile.set_shape(name, (lo, *rest), (opt, *rest), (hi, *rest))
    config.add_optimization_profile(opt_profile)
