"""`lantern serve`: an OpenAI-compatible API and a web playground for looking inside Lantern models."""

from .app import create_app, serve
from .limits import ServeLimits
from .registry import ServedModel, load_models

__all__ = ["ServeLimits", "ServedModel", "create_app", "load_models", "serve"]
