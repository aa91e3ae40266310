"""Load published AttGAN checkpoints (``setting.txt`` + ``checkpoint/weights.N.pth``) safely.

Accepts an experiment folder, its ``checkpoint/`` folder, or a single ``.pth`` file. Handles the
published ``{'G'}`` files, full ``{'G','D','optim_G','optim_D'}`` training saves, DataParallel
``module.`` prefixes, old settings with missing keys, and no ``setting.txt`` at all (the
architecture is inferred from weight shapes; where the file and the weights disagree, the weights
win and a note says so). Files are read with ``torch.load(weights_only=True)`` only: a pickle that
would run code is refused, never executed. Optimiser states are never built for inference.
Only regular files are opened (a FIFO or device would block or never end), and setting.txt is
checked key by key (``setting_rules``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import pickletools
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import CheckpointError
from ..regular_file import NotRegularFile, file_kind, open_regular
from .config import AttGANSettings, SettingsError
from .discriminator import Discriminator
from .generator import Generator


_WEIGHTS_RE = re.compile(r"weights\.(\d+)\.pth$")


def find_weights(path: str | Path) -> tuple[Path | None, Path]:
    """(setting.txt or None, weights file) for a folder or file; the newest weights.N.pth wins."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist; pass --checkpoint with an experiment folder "
            "(setting.txt + checkpoint/weights.N.pth) or a weights .pth file"
        )
    if not path.is_dir():
        _require_regular(path, "checkpoint")
        weights = path
        folder = path.parent.parent if path.parent.name == "checkpoint" else path.parent
    else:
        folder = path.parent if path.name == "checkpoint" else path
        candidates = [p for p in [*(folder / "checkpoint").glob("*.pth"), *folder.glob("*.pth")] if not p.is_dir()]
        if not candidates:
            raise CheckpointError(f"no .pth weights found in {folder} or {folder / 'checkpoint'}")

        def order(p: Path) -> tuple[int, str]:
            m = _WEIGHTS_RE.search(p.name)
            return (int(m.group(1)) if m else -1, p.name)

        weights = max(candidates, key=order)
        _require_regular(weights, "weights file")
    setting = folder / "setting.txt"
    if not setting.exists():
        return None, weights
    _require_regular(setting, "settings file")
    return setting, weights


def _require_regular(path: Path, what: str) -> None:
    if not path.is_file():
        raise CheckpointError(
            f"{what} {path} is {file_kind(path.stat().st_mode)}, not a regular file; pass an experiment folder "
            "(setting.txt + checkpoint/weights.N.pth) or a weights .pth file")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_weights(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with errors that say what is wrong with the file."""
    path = Path(path)
    try:
        fh = open_regular(path)
    except NotRegularFile as exc:
        raise CheckpointError(f"refused to read {path}: it is {exc.kind}, not a regular file") from None
    except OSError as exc:
        raise CheckpointError(f"cannot open {path}: {exc.strerror or exc}") from exc
    with fh:
        try:
            obj = torch.load(fh, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            fh.seek(0)
            objects = pickled_objects(fh)
            if objects:
                raise CheckpointError(
                    f"refused to load {path}: it contains Python objects other than tensors and plain "
                    f"containers ({', '.join(objects[:3])}), which could run code when unpickled; it was read "
                    "with weights_only=True and nothing ran. Only load checkpoints from sources you trust; "
                    "re-save it as a plain state dict."
                ) from exc
            fh.seek(0)
            raise CheckpointError(
                f"cannot read {path}: not a PyTorch checkpoint (neither a torch.save archive nor a pickle of "
                f"tensors; it starts with {fh.read(8)!r}). Pass the weights .pth file a trainer wrote."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - a damaged file makes the unpickler raise anything
            raise CheckpointError(
                f"cannot read {path}: the file is truncated or not a PyTorch checkpoint "
                f"({type(exc).__name__}: {exc}). Download or copy it again."
            ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, expected a dict with a 'G' state dict")
    return obj


_SAFE_MODULES = ("torch", "collections")  # what torch's weights_only unpickler allows in practice
_MAX_PICKLE_SCAN = 64 << 20


def pickled_objects(fh) -> list[str]:
    """The importable names (``module.name``) a pickle stream or torch.save archive refers to,
    other than torch's own and ``collections``: what makes a pickle run code. [] for garbage.

    Read with ``pickletools`` only, which decodes opcodes and never imports or calls anything.
    """
    try:
        if zipfile.is_zipfile(fh):
            with zipfile.ZipFile(fh) as archive:
                members = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not members:
                    return []
                with archive.open(members[0]) as member:
                    data = member.read(_MAX_PICKLE_SCAN)
        else:
            fh.seek(0)
            data = fh.read(_MAX_PICKLE_SCAN)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return []
    names: list[str] = []
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if isinstance(arg, str):
                strings.append(arg)
            if opcode.name in ("GLOBAL", "INST"):
                names.append(arg.replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL":
                names.append(".".join(strings[-2:-1] + strings[-1:]) if len(strings) >= 2 else "?")
            if opcode.name == "STOP":
                break
    except (ValueError, EOFError, UnicodeDecodeError, pickle.PickleError):
        pass  # garbage or truncated: keep what was decoded before
    return [n for n in dict.fromkeys(names) if n.split(".")[0] not in _SAFE_MODULES]


def strip_module_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """Drop DataParallel/DDP ``module.`` prefixes."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _norm_of(state: dict[str, torch.Tensor], prefix: str) -> str:
    if f"{prefix}.layers.1.running_mean" in state:
        return "batchnorm"
    if f"{prefix}.layers.1.weight" in state:
        return "instancenorm"
    return "none"


def _count(state: dict[str, Any], head: str) -> int:
    pattern = re.compile(rf"^{head}\.(\d+)\.")
    return 1 + max((int(m.group(1)) for k in state if (m := pattern.match(k))), default=-1)


def infer_generator_settings(g_state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Architecture options implied by a generator state dict's shapes."""
    try:
        n_enc, n_dec = _count(g_state, "enc_layers"), _count(g_state, "dec_layers")
        enc_w = [g_state[f"enc_layers.{i}.layers.0.weight"].shape[0] for i in range(n_enc)]
        dec_in = [g_state[f"dec_layers.{i}.layers.0.weight"].shape[0] for i in range(n_dec)]
        dec_out = [g_state[f"dec_layers.{i}.layers.0.weight"].shape[1] for i in range(n_dec)]
    except KeyError as exc:
        raise CheckpointError(f"generator weights lack layer {exc.args[0]!r}; not an AttGAN generator") from exc
    if n_enc == 0 or n_dec < 2:
        raise CheckpointError("generator weights have no enc_layers/dec_layers; not an AttGAN generator")
    n_attrs = dec_in[0] - enc_w[-1]
    shortcut = inject = 0
    for i in range(n_dec - 1):
        extra = dec_in[i + 1] - dec_out[i]
        skip = enc_w[n_dec - 2 - i] if 0 <= n_dec - 2 - i < n_enc else None
        if skip is not None and extra in (skip, skip + n_attrs):
            shortcut = i + 1 if shortcut == i else shortcut
            extra -= skip
        if extra == n_attrs and n_attrs > 0:
            inject = i + 1 if inject == i else inject
    return {
        "enc_dim": enc_w[0], "enc_layers": n_enc, "enc_norm": _norm_of(g_state, "enc_layers.0"),
        "dec_dim": dec_out[n_dec - 2] // 2, "dec_layers": n_dec, "dec_norm": _norm_of(g_state, "dec_layers.0"),
        "n_attrs": n_attrs, "shortcut_layers": shortcut, "inject_layers": inject,
    }


def infer_discriminator_settings(d_state: dict[str, torch.Tensor]) -> dict[str, Any]:
    n = _count(d_state, "conv")
    width = d_state[f"conv.{n - 1}.layers.0.weight"].shape[0]
    flat = d_state["fc_adv.0.layers.0.weight"].shape[1]
    f_size = int(round((flat / width) ** 0.5))
    return {
        "dis_dim": d_state["conv.0.layers.0.weight"].shape[0], "dis_layers": n,
        "dis_norm": _norm_of(d_state, "conv.0"), "dis_fc_dim": d_state["fc_adv.0.layers.0.weight"].shape[0],
        "img_size": f_size * 2**n,
    }


def _build_loaded(build: Callable[[], torch.nn.Module], state: dict[str, torch.Tensor], what: str,
                  path: Path) -> torch.nn.Module:
    """``build()`` made on the meta device, then given the checkpoint's tensors themselves.

    Why: constructing the module normally initialises every weight randomly only to overwrite it
    (0.15 s for the default-width generator, on every run); here nothing is allocated twice. The
    tensors keep the module's dtypes (a checkpoint saved in fp16 still loads as fp32)."""
    with torch.device("meta"):
        module = build()
    expected = module.state_dict()
    _check_state(expected, state, what, path)
    state = {key: value.to(expected[key].dtype) for key, value in state.items()}
    module.load_state_dict(state, strict=True, assign=True)
    return module.eval().requires_grad_(False)


def _check_state(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], what: str, path: Path) -> None:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{what} weights in {path} do not match the architecture: "
            + (f"missing layer {missing[0]!r}" if missing else f"unexpected layer {unexpected[0]!r}")
            + f" ({len(missing)} missing, {len(unexpected)} unexpected). Check setting.txt or remove it "
            "to infer the architecture from the weights."
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{what} layer {key!r} in {path} has shape {tuple(state[key].shape)}, the architecture "
                f"expects {tuple(tensor.shape)}; the file is damaged or setting.txt describes another model"
            )


@dataclass
class LoadedCheckpoint:
    settings: AttGANSettings
    generator: Generator
    discriminator: Discriminator | None
    weights_path: Path
    setting_path: Path | None
    sha256: str
    notes: list[str] = field(default_factory=list)
    has_discriminator: bool = True  # the file holds D (False spares re-reading it to find out)

    @property
    def attrs(self) -> list[str]:
        return self.settings.attrs


def load_checkpoint(path: str | Path, with_discriminator: bool = False) -> LoadedCheckpoint:
    """Build G (and D when asked and present) in eval mode on CPU from a published checkpoint."""
    setting_path, weights_path = find_weights(path)
    with ThreadPoolExecutor(1, thread_name_prefix="attgan-sha256") as pool:
        sha256 = pool.submit(sha256_file, weights_path)  # hashing releases the GIL: it overlaps the load
        loaded = _load(setting_path, weights_path, with_discriminator)
        loaded.sha256 = sha256.result()
    return loaded


def _load(setting_path: Path | None, weights_path: Path, with_discriminator: bool) -> LoadedCheckpoint:
    notes: list[str] = []
    raw = read_weights(weights_path)
    if "G" not in raw:
        if any(k.startswith(("enc_layers.", "module.enc_layers.")) for k in raw):
            raw = {"G": raw}  # a bare generator state dict
        else:
            raise CheckpointError(f"{weights_path} has no 'G' entry (keys: {sorted(raw)[:5]}); not an AttGAN checkpoint")
    g_state = strip_module_prefix(raw["G"])
    d_state = strip_module_prefix(raw["D"]) if isinstance(raw.get("D"), dict) else None

    if setting_path is not None:
        try:
            settings = AttGANSettings.from_file(setting_path)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(str(exc)) from exc
    else:
        settings = AttGANSettings()
        notes.append("no setting.txt: architecture inferred from weight shapes, other options at reference defaults")

    inferred = infer_generator_settings(g_state)
    if d_state is not None:
        inferred.update(infer_discriminator_settings(d_state))
    n_cond = inferred.pop("n_attrs")  # attributes + style codes: what the decoder is conditioned on
    if n_cond != settings.n_cond:
        where = f"the 'attrs' list in {setting_path}" if setting_path else "a setting.txt beside the weights"
        style = f" and {settings.n_style} style codes" if settings.n_style else ""
        raise CheckpointError(
            f"the generator was trained on {n_cond} attribute/style inputs but the settings list {settings.n_attrs} "
            f"attributes{style} ({settings.attrs}); give the attribute names in order in {where}"
        )
    for key, value in inferred.items():
        if getattr(settings, key) != value:
            if setting_path is not None:
                notes.append(f"setting.txt says {key}={getattr(settings, key)!r} but the weights imply {value!r}; using {value!r}")
            setattr(settings, key, value)
    try:
        settings.check_architecture()
    except SettingsError as exc:
        where = str(setting_path) if setting_path else f"{weights_path} (no setting.txt: the reference's defaults)"
        raise CheckpointError(str(exc.located(where))) from None

    generator = _build_loaded(lambda: Generator.from_settings(settings), g_state, "generator", weights_path)
    discriminator = None
    if with_discriminator and d_state is not None:
        discriminator = _build_discriminator(settings, d_state, weights_path)
    return LoadedCheckpoint(settings, generator, discriminator, weights_path, setting_path, "", notes,
                            has_discriminator=d_state is not None)


def _build_discriminator(settings: AttGANSettings, d_state: dict[str, torch.Tensor], path: Path) -> Discriminator:
    return _build_loaded(lambda: Discriminator.from_settings(settings), d_state, "discriminator", path)


def load_discriminator(loaded: LoadedCheckpoint) -> Discriminator | None:
    """D for an already loaded checkpoint (re-reads the file), or None when it holds only G."""
    if not loaded.has_discriminator:
        return None
    raw = read_weights(loaded.weights_path)
    if not isinstance(raw.get("D"), dict):
        return None
    d_state = strip_module_prefix(raw["D"])
    settings = dataclasses.replace(loaded.settings, **infer_discriminator_settings(d_state))
    return _build_discriminator(settings, d_state, loaded.weights_path)
