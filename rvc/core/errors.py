"""Typed errors. Every message is written for the person using the app or the CLI: it says what is wrong
and, where possible, what to do. The UI and CLI show ``str(error)`` as it is."""


class RvcError(Exception):
    """Base class of every error the app reports to its user."""


class InvalidNameError(RvcError, ValueError):
    """An experiment name that cannot be used."""


class ExperimentNotFoundError(RvcError):
    """The experiment folder or its config does not exist."""


class ExperimentConflictError(RvcError):
    """An experiment reopened with choices that differ from the stored ones."""


class DatasetError(RvcError):
    """The dataset folder cannot be used at all (missing, not a folder, unreadable, nothing usable in it)."""


class AudioDecodeError(RvcError):
    """One input file could not be decoded as audio."""


class ExperimentBusyError(RvcError):
    """Another job holds the experiment's lock."""


class IncompleteStepError(RvcError):
    """A step's output is missing or was left incomplete by an interrupted run."""


class Cancelled(RvcError):
    """The user stopped the job."""


class ModelFileError(RvcError, ValueError):
    """A model file that cannot be used; the message names the file and what does not fit."""


class WeightsError(RvcError):
    """A weight file is missing or cannot be fetched; the message says where to get it and where to put it."""


class ChecksumError(WeightsError):
    """A weight file on disk or downloaded does not match its published size or SHA-256."""


class EmbedderError(RvcError, ValueError):
    """The embedder (HuBERT) file cannot be used; the message names the file and the problem."""


class PitchError(RvcError, ValueError):
    """A pitch method that does not exist, or a piece it cannot analyse (too short, degenerate)."""


class EvaluationError(RvcError, ValueError):
    """A recording or model that cannot be evaluated (not audio, silent, too short, a model of the wrong kind)."""


class DownloadError(RvcError):
    """A download failed: unreachable, refused, interrupted (resumable), too large, or not the file expected."""
