"""Errors a person can act on. Each carries a message meant to be shown as it is."""


class CodannaError(Exception):
    """Base of every error the CLI prints and the GUI shows."""


class ModelUnavailableError(CodannaError):
    """The embedding model cannot be loaded (not installed, no network, bad folder)."""


class VectorStoreUnavailableError(CodannaError):
    """The vector store cannot be reached (for example the PostgreSQL server is down)."""


class IndexLockedError(CodannaError):
    """Another process holds the index for writing."""


class SettingsError(CodannaError):
    """A settings value is invalid; nothing was saved."""


class RootNotFoundError(CodannaError):
    """A folder given as a root does not exist or is not a directory."""


class UnknownLanguageError(CodannaError):
    """A language filter names no language the index knows (bad usage: exit 2)."""
