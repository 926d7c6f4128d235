"""Thin Lambda entry points: parse the event, call :mod:`tokencast.core`, shape the answer."""
