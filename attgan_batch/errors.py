"""The tool's own exceptions. Anything else escaping a row is a bug, not bad input."""


class AttGANBatchError(Exception):
    """Base class: the message is written for the user and says what to do."""


class RowError(AttGANBatchError):
    """One manifest row cannot be processed; the row fails and the batch goes on."""


class ManifestError(AttGANBatchError):
    """The manifest as a whole is unusable (fails fast, with the line number where known)."""


class CheckpointError(AttGANBatchError):
    """A checkpoint that cannot be used."""


class EngineUnavailable(AttGANBatchError):
    """An inference backend cannot run here; the message names the alternative."""
