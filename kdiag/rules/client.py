"""Static rules: client checks."""

from __future__ import annotations
