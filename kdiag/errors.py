"""Errors that end a command with exit code 2 and one clear line on stderr.

    KdiagError                  anything kdiag cannot work around (exit 2)
    ├── UsageError              bad arguments or options
    ├── InputError              unreadable files, bad kubeconfig, bad report files
    └── ClusterAccessError      the API server cannot be reached or refused us (401, TLS, DNS)
"""

from __future__ import annotations

__all__ = ["ClusterAccessError", "InputError", "KdiagError", "UsageError"]


class KdiagError(Exception):
    """A condition kdiag cannot diagnose around; the message is shown to the user as is."""

    exit_code = 2


class UsageError(KdiagError):
    """The command line is wrong."""


class InputError(KdiagError):
    """A file or document given to kdiag cannot be used."""


class ClusterAccessError(KdiagError):
    """The Kubernetes API could not be reached or did not accept our credentials."""
