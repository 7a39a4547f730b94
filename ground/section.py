"""The base of every config section: unknown keys are errors, defaults are validated too."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A typed config section; each part declares its own (`<part>/settings.py`)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
