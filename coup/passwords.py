"""Password hashing (bcrypt) and the password policy (COUP.md §5.4).

bcrypt reads at most 72 bytes, so two long passwords that share a prefix would be one password
(25 Korean characters are 75 bytes of UTF-8), and the same text typed in another Unicode normal
form would be another. A hash is therefore made from the whole password: NFC-normalised, then
HMAC-SHA256 keyed with the bcrypt salt, base64-encoded (44 bytes, no NUL), then bcrypt. Such
hashes carry the prefix `$coup-sha256$` in front of an ordinary bcrypt hash. Keying the pre-hash
with the salt keeps it from being a plain SHA-256 of the password, which could be matched against
unsalted SHA-256 values leaked elsewhere.

Hashes made before (bcrypt of the first 72 bytes as typed) still verify; `needs_rehash` tells
the login to replace them once the password has been checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import bcrypt

# Absolute bounds of the policy; the minimum can be raised by the min_password_length setting.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
# Marks a hash of the whole password (see the module docstring); a bcrypt hash follows it.
WHOLE_PASSWORD_PREFIX = "$coup-sha256$"
# bcrypt reads at most 72 bytes; hashes without the prefix were made from that many.
BCRYPT_MAX_BYTES = 72
# "$2b$12$" and the 22 characters of the salt: what bcrypt.hashpw takes as its salt.
BCRYPT_SALT_CHARS = 29
_COMMON_PREFIXES = ("123456", "password", "qwerty", "abc123", "admin")
_TRIPLE_REPEAT = re.compile(r"(.)\1\1", re.DOTALL)


# bcrypt at cost 12 takes about a quarter of a second of CPU: it runs on its own small pool
# (bcrypt releases the GIL), never on the event loop and never on the database workers.
_bcrypt_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="coup-bcrypt")


async def hash_password_async(password: str, rounds: int) -> str:
    return await asyncio.get_running_loop().run_in_executor(
        _bcrypt_pool, hash_password, password, rounds)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _bcrypt_pool, verify_password, password, password_hash)


async def dummy_verify_async(password: str, rounds: int) -> None:
    await asyncio.get_running_loop().run_in_executor(_bcrypt_pool, dummy_verify, password, rounds)


def hash_password(password: str, rounds: int) -> str:
    """A `$coup-sha256$` hash of the whole (NFC-normalised) password."""
    salt = bcrypt.gensalt(rounds=rounds)
    return WHOLE_PASSWORD_PREFIX + bcrypt.hashpw(_prehash(password, salt), salt).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash:
        return False
    try:
        if password_hash.startswith(WHOLE_PASSWORD_PREFIX):
            inner = password_hash.removeprefix(WHOLE_PASSWORD_PREFIX).encode("ascii")
            return bcrypt.checkpw(_prehash(password, inner[:BCRYPT_SALT_CHARS]), inner)
        return bcrypt.checkpw(_legacy_encode(password), password_hash.encode("ascii"))
    except ValueError:
        return False


def needs_rehash(password_hash: str, rounds: int) -> bool:
    """True for a hash of the old format or of a lower cost (COUP.md §5.3 step 6)."""
    return not password_hash.startswith(WHOLE_PASSWORD_PREFIX) or hash_cost(password_hash) < rounds


def dummy_verify(password: str, rounds: int) -> None:
    """Spend the time of a real check, so response times do not reveal unknown emails."""
    verify_password(password, _dummy_hash(rounds))


def hash_cost(password_hash: str) -> int:
    """The cost factor of a `$2b$12$...` hash, with or without the prefix (0 when unreadable)."""
    parts = password_hash.removeprefix(WHOLE_PASSWORD_PREFIX).split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0


def password_problem(password: str, *, email: str | None, min_length: int) -> str | None:
    """Why the password fails the policy, or None when it passes."""
    min_length = max(MIN_PASSWORD_LENGTH, min_length)
    if len(password) < min_length:
        return f"must be at least {min_length} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    classes = character_classes(password)
    if classes < 2:
        return "must mix at least two of: upper case, lower case, digits, symbols"
    if email and password.strip().lower() == email.strip().lower():
        return "must not be your email address"
    if strength_score(password) < 2:
        return "is too easy to guess"
    return None


def character_classes(password: str) -> int:
    return sum(
        (
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def strength_score(password: str) -> int:
    classes = character_classes(password)
    score = (len(password) >= 8) + (len(password) >= 12) + (classes >= 3) + (classes == 4)
    lowered = password.lower()
    if lowered.startswith(_COMMON_PREFIXES) or _TRIPLE_REPEAT.search(password):
        score -= 1
    return score


# One hash per cost, made on first use, so that checking an unknown email costs a real check.
_dummy_hashes: dict[int, str] = {}


def _dummy_hash(rounds: int) -> str:
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = hash_password("coup-dummy-password", rounds)
    return _dummy_hashes[rounds]


def _prehash(password: str, salt: bytes) -> bytes:
    """What bcrypt hashes: base64 of HMAC-SHA256(salt, NFC(password)), 44 bytes for any length.
    surrogatepass keeps hashing total: a lone surrogate gives bytes here rather than a 500."""
    text = unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")
    return base64.b64encode(hmac.new(salt, text, hashlib.sha256).digest())


def _legacy_encode(password: str) -> bytes:
    # How hashes without the prefix were made: the first 72 bytes, as typed. (bcrypt 5 refuses
    # longer inputs instead of silently truncating them.)
    return password.encode("utf-8", "surrogatepass")[:BCRYPT_MAX_BYTES]
