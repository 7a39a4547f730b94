"""Shouwang (守望): IoT edge monitoring for residential communities."""

__version__ = "0.1.0"
