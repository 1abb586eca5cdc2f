"""Schemas layer: the base of every settings model (unknown keys are errors)."""

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
