"""Personal data at rest: AES-GCM envelopes with a key id, keyed phone hashes, the key ring.

A value is stored as ``hcp1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The associated
data binds it to its key id and its column (``rating.rater_phone``), so a ciphertext copied
into another column does not decrypt. Keys come from ``HAOCHAPING_DATA_KEYS``
("k2:<base64>,k1:<base64>": the first encrypts, every one decrypts) or from the file named by
``HAOCHAPING_DATA_KEY_FILE`` (the same entries, one a line). With neither (development), a key
is generated into the data directory on first start, with a warning; there is no plaintext mode.

Each key yields two keys by HKDF: one for AES-256-GCM, one for HMAC-SHA256 of normalised phone
numbers (exact lookup without decrypting). A row's phone hash is made with the key that
encrypted it; lookups try every key of the ring.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import DEFAULT_DATA_DIR, PrivacySettings

log = logging.getLogger(__name__)

ENVELOPE_VERSION = "hcp1"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEV_KEY_FILE = "data-keys"
_NONCE_BYTES = 12


class DataKeyError(Exception):
    """The data keys are missing, malformed, or do not open a stored value."""


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


@dataclass(slots=True)
class _Key:
    key_id: str
    aead: AESGCM
    lookup: bytes
    # Keys the digests that tell a retry from a reused id: they cover the personal data too.
    payload: bytes
    # Keys the digest of a comment: equal comments are found (identical_burst) without reading.
    text: bytes


@dataclass(slots=True)
class Keyring:
    """The data keys in order: the first encrypts, all decrypt."""

    keys: list[_Key]
    by_id: dict[str, _Key] = field(init=False)
    source: str = "environment"

    def __post_init__(self) -> None:
        if not self.keys:
            raise DataKeyError("no data key configured")
        self.by_id = {k.key_id: k for k in self.keys}
        if len(self.by_id) != len(self.keys):
            raise DataKeyError("a data key id appears twice")

    @classmethod
    def from_keys(cls, keys: list[tuple[str, bytes]], source: str = "environment") -> Keyring:
        built = []
        for key_id, material in keys:
            if not KEY_ID_PATTERN.match(key_id):
                raise DataKeyError(f"bad data key id {key_id!r} (letters, digits, _ and -)")
            if len(material) != 32:
                raise DataKeyError(f"data key {key_id} must be 32 bytes (AES-256)")
            built.append(
                _Key(
                    key_id,
                    AESGCM(_derive(material, b"haochaping/personal-data/aes-256-gcm/v1")),
                    _derive(material, b"haochaping/personal-data/phone-lookup/v1"),
                    _derive(material, b"haochaping/personal-data/payload-digest/v1"),
                    _derive(material, b"haochaping/personal-data/text-digest/v1"),
                )
            )
        return cls(built, source=source)

    @classmethod
    def parse(cls, spec: str, source: str = "environment") -> Keyring:
        """'k2:<base64>,k1:<base64>' (commas or new lines; blank lines and # comments skipped)."""
        entries = []
        for raw in re.split(r"[,\n]", spec):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise DataKeyError("each data key is '<key id>:<base64 of 32 bytes>'")
            try:
                material = base64.b64decode(
                    encoded.strip().replace("-", "+").replace("_", "/") + "==", validate=False
                )
            except (binascii.Error, ValueError):
                raise DataKeyError(f"data key {key_id.strip()} is not base64") from None
            entries.append((key_id.strip(), material))
        return cls.from_keys(entries, source=source)

    @property
    def current(self) -> _Key:
        return self.keys[0]

    @property
    def key_ids(self) -> list[str]:
        return [k.key_id for k in self.keys]

    # --- values ----------------------------------------------------------------------------

    def encrypt(self, value: str | None, context: str) -> str | None:
        """An envelope for a value (None stays None); `context` names its column."""
        if value is None:
            return None
        key = self.current
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, value.encode(), _aad(key.key_id, context))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{ENVELOPE_VERSION}:{key.key_id}:{body}"

    def decrypt(self, envelope: str | None, context: str) -> str | None:
        """The value inside an envelope (None stays None)."""
        if envelope is None:
            return None
        version, key_id, body = _split(envelope)
        if version != ENVELOPE_VERSION:
            raise DataKeyError(f"unknown envelope version {version!r}")
        key = self.by_id.get(key_id)
        if key is None:
            raise DataKeyError(f"data key {key_id} is not configured (HAOCHAPING_DATA_KEYS)")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return key.aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(key_id, context)
            ).decode()
        except Exception:
            raise DataKeyError(f"a {context} value does not open with key {key_id}") from None

    def seal_text(self, value: str | None, context: str) -> str | None:
        """Free text (a comment, a complaint's content, a summary) as stored: an envelope;
        None and the empty string stay as they are (they hold nothing)."""
        return self.encrypt(value, context) if value else value

    def open_text(self, stored: str | None, context: str) -> str | None:
        """Free text as written: an envelope opened; text stored before migration 0009 (or
        by the demo loader) in clear is returned as it is."""
        return self.decrypt(stored, context) if is_envelope(stored) else stored

    def text_digest(self, value: str | None) -> bytes | None:
        """HMAC-SHA256 of a free text under the current key (None for None): tells equal
        comments apart from different ones without decrypting either."""
        if value is None:
            return None
        return hmac.new(self.current.text, value.encode(), hashlib.sha256).digest()

    def needs_rekey(self, envelope: str | None) -> bool:
        return envelope is not None and _split(envelope)[1] != self.current.key_id

    # --- phone lookup ------------------------------------------------------------------------

    def phone_hash(self, phone: str | None) -> bytes | None:
        """HMAC-SHA256 of the normalised phone under the current key (stored beside the row)."""
        if not phone:
            return None
        return _phone_hmac(self.current.lookup, phone)

    def phone_hashes(self, phone: str) -> list[bytes]:
        """The phone's hash under every key: what a lookup matches."""
        return [_phone_hmac(k.lookup, phone) for k in self.keys]

    def payload_digest(self, canonical: bytes) -> bytes:
        """HMAC-SHA256 of a request's canonical form under the current key.

        Stored to tell a retry from a reused event id or order number. A plain SHA-256 would
        let whoever reads the table test guesses of the rater's phone number offline (the
        other fields are stored in clear); this cannot be checked without the key."""
        return hmac.new(self.current.payload, canonical, hashlib.sha256).digest()

    def payload_matches(self, stored: bytes, canonical: bytes) -> bool:
        """Whether a stored digest is of this canonical form: under any key of the ring (it
        may predate a rotation), or the plain SHA-256 that rows stored before keyed digests
        hold."""
        candidates = [hmac.new(k.payload, canonical, hashlib.sha256).digest() for k in self.keys]
        candidates.append(hashlib.sha256(canonical).digest())
        return any(hmac.compare_digest(stored, c) for c in candidates)


def _aad(key_id: str, context: str) -> bytes:
    return f"{ENVELOPE_VERSION}:{key_id}:{context}".encode()


def _split(envelope: str) -> tuple[str, str, str]:
    parts = envelope.split(":", 2)
    if len(parts) != 3:
        raise DataKeyError("not an encrypted value (hcp1:<key id>:<data>)")
    return parts[0], parts[1], parts[2]


def normalise_phone(phone: str) -> str:
    """Digits only, without the +86 country code: '+86 138-1234-5678' -> '13812345678'."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def _phone_hmac(key: bytes, phone: str) -> bytes:
    return hmac.new(key, normalise_phone(phone).encode(), hashlib.sha256).digest()


def is_envelope(value: str | None) -> bool:
    return value is not None and value.startswith(ENVELOPE_VERSION + ":")


# --- loading ------------------------------------------------------------------------------------


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh '<key id>:<base64>' entry (for `haochaping privacy new-key`)."""
    key_id = key_id or "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def load_keyring(settings: PrivacySettings, data_dir: Path | None = None) -> Keyring:
    """The configured ring: the keys, then the key file, then the development key (generated
    into `data_dir`, else the section's own, else ./.haochaping)."""
    if settings.data_keys:
        return Keyring.parse(settings.data_keys, "HAOCHAPING_DATA_KEYS")
    if settings.data_key_file:
        path = Path(settings.data_key_file).expanduser()
        try:
            return Keyring.parse(path.read_text(), f"key file {path}")
        except OSError as exc:
            raise DataKeyError(f"cannot read the data key file {path}: {exc.strerror}") from None
    path = Path(data_dir or settings.data_dir or DEFAULT_DATA_DIR).expanduser() / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(new_key_entry("dev1") + "\n")
            log.warning(
                "no data key configured: generated %s for development. In production set "
                "HAOCHAPING_DATA_KEYS or HAOCHAPING_DATA_KEY_FILE, and keep the key safe: "
                "without it the stored names and phone numbers cannot be read",
                path,
            )
    return Keyring.parse(path.read_text(), f"development key {path}")


_installed: Keyring | None = None
_source: Callable[[], Keyring] | None = None


def install(ring: Keyring | None) -> Keyring | None:
    """Make `ring` the process's key ring (None: load it again on next use); the previous one."""
    global _installed
    previous, _installed = _installed, ring
    return previous


def load_on_first_use(source: Callable[[], Keyring]) -> None:
    """Where keyring() loads the ring from while none is installed (the CLI, migrations: the
    app's lifespan installs its own)."""
    global _source
    _source = source


def keyring() -> Keyring:
    """The process's key ring, loaded on first use."""
    global _installed
    if _installed is None:
        if _source is None:
            raise DataKeyError("no key ring installed (the app, the CLI and migrations load one)")
        _installed = _source()
    return _installed
