"""Which settings give checkpoints the reference AttGAN-PyTorch can load.

The reference builds its networks from setting.txt with three things fixed in code: the critic's
heads read a 1024-channel trunk, its classifier has 13 outputs, and a decoder layer with a
shortcut expects the encoder feature to have half that layer's width. This trainer derives each
from the configuration, so it can train more shapes than the reference can load. The rules here
mirror the reference's ``Generator``/``Discriminators`` constructors (its HEAD, commit be2d6c6).
"""
from __future__ import annotations

from ..model.config import MAX_DIM, AttGANSettings

REFERENCE_TRUNK = 1024   # the reference's fc heads take 1024 * f * f inputs
REFERENCE_N_ATTRS = 13   # the reference's fc_cls has 13 outputs


def reference_incompatibilities(s: AttGANSettings) -> list[str]:
    """One line per reason the reference's ``AttGAN.load()`` would fail on this run's checkpoints."""
    problems = []
    trunk = min(s.dis_dim * 2 ** (s.dis_layers - 1), MAX_DIM)
    if trunk != REFERENCE_TRUNK:
        problems.append(f"the critic's trunk has {trunk} channels (dis_dim {s.dis_dim} * 2**(dis_layers-1), capped "
                        f"at {MAX_DIM}); the reference's critic heads expect {REFERENCE_TRUNK}: its D cannot load")
    if s.n_attrs != REFERENCE_N_ATTRS:
        problems.append(f"{s.n_attrs} attributes; the reference's critic classifier has {REFERENCE_N_ATTRS} outputs: "
                        "its D cannot load (a G-only export loads)")
    enc_widths = [min(s.enc_dim * 2**i, MAX_DIM) for i in range(s.enc_layers)]
    for i in range(min(s.shortcut_layers, s.dec_layers - 1)):
        width = min(s.dec_dim * 2 ** (s.dec_layers - 1 - i), MAX_DIM)
        j = s.dec_layers - 2 - i
        if 0 <= j < len(enc_widths) and enc_widths[j] != width // 2:
            problems.append(f"shortcut {i} joins a {enc_widths[j]}-channel encoder feature to a {width}-channel "
                            f"decoder layer; the reference assumes half the decoder width ({width // 2}): "
                            "its G cannot load (use enc_dim = dec_dim and widths below the 1024 cap)")
            break
    if s.style:
        problems.append("style controllers (--style) are not in the reference: its G and D cannot load")
    return problems
