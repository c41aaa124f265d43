"""Personal data: sealed at rest (crypto), masked in responses (masking), erased when expired
(retention, its router and schemas). `from app import privacy` gives the key ring's API."""

from app.config import PrivacySettings
from app.privacy.crypto import (
    DEV_KEY_FILE,
    DataKeyError,
    Keyring,
    install,
    is_envelope,
    keyring,
    load_keyring,
    load_on_first_use,
)

__all__ = [
    "DEV_KEY_FILE",
    "DataKeyError",
    "Keyring",
    "PrivacySettings",
    "install",
    "is_envelope",
    "keyring",
    "load_keyring",
    "load_on_first_use",
]
