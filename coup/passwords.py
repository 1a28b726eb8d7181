"""Password hashing (bcrypt) and the password policy (COUP.md §5.4)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import bcrypt

# Absolute bounds of the policy; the minimum can be raised by the min_password_length setting.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
# bcrypt reads at most 72 bytes; longer passwords are pre-truncated the same way every time.
BCRYPT_MAX_BYTES = 72
_COMMON_PREFIXES = ("123456", "password", "qwerty", "abc123", "admin")
_TRIPLE_REPEAT = re.compile(r"(.)\1\1", re.DOTALL)
# A hash made once at import, so that checking an unknown email costs the same as a real check.
_DUMMY_HASH = bcrypt.hashpw(b"coup-dummy-password", bcrypt.gensalt(rounds=4))


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
    return bcrypt.hashpw(_encode(password), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash:
        return False
    try:
        return bcrypt.checkpw(_encode(password), password_hash.encode("ascii"))
    except ValueError:
        return False


def dummy_verify(password: str, rounds: int) -> None:
    """Spend the time of a real check, so response times do not reveal unknown emails."""
    bcrypt.checkpw(_encode(password), _dummy_hash(rounds))


def hash_cost(password_hash: str) -> int:
    """The cost factor of a `$2b$12$...` hash (0 when unreadable)."""
    parts = password_hash.split("$")
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


_dummy_hashes: dict[int, bytes] = {4: _DUMMY_HASH}


def _dummy_hash(rounds: int) -> bytes:
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = bcrypt.hashpw(b"coup-dummy-password", bcrypt.gensalt(rounds))
    return _dummy_hashes[rounds]


def _encode(password: str) -> bytes:
    # bcrypt 5 refuses inputs over 72 bytes instead of silently truncating; truncate explicitly.
    return password.encode("utf-8")[:BCRYPT_MAX_BYTES]
