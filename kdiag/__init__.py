"""kdiag: which hop of a Kubernetes request path is broken, why, and what to change.

This module must stay import-light: it is imported by every command and must never pull in
Textual, the kubernetes client or the network stacks.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
