"""Static rules: ingress checks."""

from __future__ import annotations
