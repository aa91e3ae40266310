"""Where the bundled demo model lives, and the default checkpoint when none is given."""
from __future__ import annotations

from pathlib import Path

from .errors import CheckpointError

DEMO_DIR = Path(__file__).parent / "assets" / "demo"


def demo_checkpoint() -> Path | None:
    """The bundled demo model (trained on synthetic 64 px faces), if this install ships it."""
    return DEMO_DIR if (DEMO_DIR / "checkpoint").is_dir() else None


DEMO_NAME = "demo"  # `-c demo` names the bundled model wherever a checkpoint is taken


def default_checkpoint(given: str | Path | None = None) -> Path:
    """``given`` when set (``demo``: the bundled model, unless a folder of that name exists), else
    the bundled demo model; a clear error when neither exists."""
    if given and not (str(given) == DEMO_NAME and not Path(given).exists()):
        return Path(given)
    demo = demo_checkpoint()
    if demo is None:
        raise CheckpointError(
            "no --checkpoint given and this install has no bundled demo model; pass --checkpoint with a "
            "published AttGAN experiment folder (setting.txt + checkpoint/weights.N.pth), e.g. the "
            "128_shortcut1_inject1_none weights from github.com/elvisyjlin/AttGAN-PyTorch"
        )
    return demo


DEMO_PHOTO_WARNING = ("the bundled demo model was trained on 64 px synthetic faces; on real photos its edits are "
                      "not meaningful. Use a published CelebA checkpoint (e.g. 128_shortcut1_inject1_none from "
                      "github.com/elvisyjlin/AttGAN-PyTorch) with -c")


def is_demo(weights_path: str | Path) -> bool:
    """True for the bundled demo model's weights."""
    try:
        return DEMO_DIR.resolve() in Path(weights_path).resolve().parents
    except OSError:
        return False
