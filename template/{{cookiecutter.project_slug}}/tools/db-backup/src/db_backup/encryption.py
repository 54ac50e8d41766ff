"""Backups sealed with age in the stream: the recipients that encrypt, the identity that decrypts.

With recipients set, a backup is ``pg_dump | compressor | age -r KEY ...``: the
plaintext stays in the pipes between the stages and only age's output reaches
the disk or the bucket. Encryption is a layer over the compression format, so
a sealed backup's name is the compressed one plus ``.age``. Sealed bytes are
recognised by the first line of the age header, never by the name
(https://age-encryption.org/v1). Recipients are public keys; the identity (the
private key) is needed only where backups are verified or restored.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from .children import child_options
from .errors import ConfigError

AGE_SUFFIX = ".age"
AGE_MAGIC = b"age-encryption.org/v1\n"
RECIPIENTS_VARIABLE = "BACKUP_AGE_RECIPIENTS"
RECIPIENTS_FILE_VARIABLE = "BACKUP_AGE_RECIPIENTS_FILE"
IDENTITY_VARIABLE = "BACKUP_AGE_IDENTITY_FILE"
INSTALL_HINT = (
    "install age (Debian/Ubuntu: apt-get install age; Alpine: apk add age; "
    "macOS: brew install age), or unset BACKUP_AGE_RECIPIENTS and BACKUP_AGE_RECIPIENTS_FILE"
)
CHECK_TIMEOUT_SECONDS = 30
_WRONG_IDENTITY = "no identity matched any of the recipients"
_SSH_KEY_TYPE = re.compile(r"^(sk-)?(ssh|ecdsa)-")
_AGE_ERROR = "age: error: "
# An empty input sealed to a throwaway key whose identity no longer exists: any
# identity file age can read fails on it with "no identity matched", any other
# failure is the identity file itself.
_IDENTITY_PROBE = base64.b64decode(
    "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBuTGpCQnlBZjNURHhNTUtRVkszbHNhTElQTjVHRGVJYkd0"
    "SWpHT2xYUEdVCklpOWVIVmV3N1VFS2xOK1A2ek8vTGZObkppb3p4ZElUVkpiTE9qY0taK28KLS0tIGtWYW12ZVVM"
    "eThCRGpaUTVWYzU0RmVmaXZjcUk2RUU5R0EzWitRQ2lGU2MKlc8Er8/LDc0HyvErwA5qJLCt87aUpQfebvbPi+VC/dc="
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encryption:
    """The recipients every backup is encrypted to: keys given inline and/or a recipients file."""

    recipients: tuple[str, ...] = ()
    recipients_file: Path | None = None

    def encrypt_command(self) -> list[str]:
        """``age -r KEY ... [-R FILE]``, reading stdin and writing stdout."""
        argv = [age_program()]
        for recipient in self.recipients:
            argv += ["-r", recipient]
        if self.recipients_file is not None:
            argv += ["-R", str(self.recipients_file)]
        return argv

    def describe(self) -> str:
        """``2 recipients`` or ``1 recipient and the recipients file /etc/backup/recipients``."""
        parts = []
        if self.recipients:
            count = len(self.recipients)
            parts.append(f"{count} recipient{'' if count == 1 else 's'}")
        if self.recipients_file is not None:
            parts.append(f"the recipients file {self.recipients_file}")
        return " and ".join(parts)


def age_program() -> str:
    """The ``age`` program on PATH; ``ConfigError`` (exit 2) saying how to install it."""
    path = shutil.which("age")
    if path is None:
        raise ConfigError(
            "age is required to encrypt or decrypt backups but was not found on PATH",
            hint=INSTALL_HINT,
        )
    return os.path.abspath(path)


def split_recipients(raw: str) -> tuple[str, ...]:
    """``BACKUP_AGE_RECIPIENTS`` as single keys: separated by commas, blanks or newlines.

    An SSH public key (``ssh-ed25519 AAAA... comment``) is one recipient: its type
    and key are joined again and a trailing comment is dropped.
    """
    words = raw.replace(",", " ").split()
    recipients: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if _SSH_KEY_TYPE.match(word) and index + 1 < len(words):
            recipients.append(f"{word} {words[index + 1]}")
            index += 2
            if index < len(words) and not _looks_like_key(words[index]):
                index += 1  # the key's comment, e.g. user@host
            continue
        recipients.append(word)
        index += 1
    return tuple(recipients)


def _looks_like_key(word: str) -> bool:
    return word.startswith("age1") or bool(_SSH_KEY_TYPE.match(word))


def check_recipients(encryption: Encryption) -> None:
    """Encrypt an empty input to every recipient: a malformed key is exit 2 before any dump."""
    try:
        done = subprocess.run(
            encryption.encrypt_command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
            **child_options(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"cannot run age to check the recipients: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(
            f"{_recipient_source(encryption)}: {age_error(done.stderr.decode('utf-8', 'replace'))}",
            hint="recipients are age public keys (age1..., from age-keygen -y) or SSH public "
            "keys (ssh-ed25519 or ssh-rsa), separated by commas; a recipients file holds one "
            "per line",
        )
    log.info(f"Encryption: age, to {encryption.describe()}")


def _recipient_source(encryption: Encryption) -> str:
    if encryption.recipients and encryption.recipients_file is not None:
        return f"{RECIPIENTS_VARIABLE} or {RECIPIENTS_FILE_VARIABLE}"
    return RECIPIENTS_VARIABLE if encryption.recipients else RECIPIENTS_FILE_VARIABLE


def decrypt_command(identity_file: Path) -> list[str]:
    """``age -d -i IDENTITY``, reading stdin and writing stdout."""
    return [age_program(), "-d", "-i", str(identity_file)]


def check_identity(identity_file: Path) -> None:
    """``ConfigError`` (exit 2) when age cannot use ``identity_file``, before any backup is read.

    A missing, unreadable or malformed identity file is a setting to fix, not a
    damaged backup: it is said in one line before a database is created or a
    byte of the backup is read.
    """
    try:
        done = subprocess.run(
            decrypt_command(identity_file),
            input=_IDENTITY_PROBE,
            capture_output=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
            **child_options(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"cannot run age to check {IDENTITY_VARIABLE}: {exc}") from None
    message = age_error(done.stderr.decode("utf-8", "replace"))
    if done.returncode != 0 and not wrong_identity(message):
        raise ConfigError(
            f"{IDENTITY_VARIABLE} ({identity_file}) is not a usable age identity file: {message}",
            hint="it holds age identities (AGE-SECRET-KEY-1..., from age-keygen) or an SSH "
            "private key without a passphrase",
        )


def decrypt_small(data: bytes, identity_file: Path) -> tuple[bytes | None, str | None]:
    """Decrypt a small file read whole (a roles file): its plaintext, or age's error."""
    try:
        done = subprocess.run(
            decrypt_command(identity_file),
            input=data,
            capture_output=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
            **child_options(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    if done.returncode != 0:
        return None, age_error(done.stderr.decode("utf-8", "replace"))
    return done.stdout, None


def is_sealed(head: bytes) -> bool:
    """Whether bytes start with an age header (binary format)."""
    return head.startswith(AGE_MAGIC)


def header_stanzas(head: bytes) -> int | None:
    """How many recipient stanzas a complete age header at the start of ``head`` holds.

    None when ``head`` does not start with an age header that ends (its ``---`` MAC line).
    """
    if not is_sealed(head):
        return None
    end = head.find(b"\n--- ")
    if end < 0 or head.find(b"\n", end + 1) < 0:
        return None
    lines = head[:end].split(b"\n")
    return sum(1 for line in lines if line.startswith(b"-> "))


def age_error(stderr: str) -> str:
    """age's own error line without its prefix (the first line when it has none)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(_AGE_ERROR):
            return line[len(_AGE_ERROR) :]
    return lines[0] if lines else "age failed without a message"


def wrong_identity(message: str) -> bool:
    """Whether age's error says the identity is not one the data was encrypted to."""
    return _WRONG_IDENTITY in message


@dataclass(frozen=True)
class Peek:
    """The first plaintext bytes of sealed data, or age's error."""

    head: bytes
    error: str | None


def peek_plaintext(sealed_head: bytes, identity_file: Path, count: int) -> Peek:
    """Decrypt the first stored bytes just far enough to read ``count`` bytes of plaintext.

    age writes each 64 KiB chunk as soon as it is authenticated, so the first
    chunks of a longer stream come out before age notices the end is missing.
    Only ``count`` plaintext bytes (the compression's magic) reach Python; age is
    stopped then. A wrong identity or damaged header is ``Peek.error``.
    """
    proc = subprocess.Popen(
        decrypt_command(identity_file),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **child_options(),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    errors: list[bytes] = []

    def feed() -> None:
        with contextlib.suppress(OSError):
            proc.stdin.write(sealed_head)  # type: ignore[union-attr]
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]

    def drain() -> None:
        errors.append(proc.stderr.read())  # type: ignore[union-attr]

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain)]
    for thread in threads:
        thread.start()
    plaintext = b""
    try:
        while len(plaintext) < count:
            more = os.read(proc.stdout.fileno(), count - len(plaintext))
            if not more:
                break
            plaintext += more
    finally:
        proc.stdout.close()
        if len(plaintext) >= count and proc.poll() is None:
            proc.kill()  # enough read; the rest of the head is not needed
        proc.wait()
        for thread in threads:
            thread.join(timeout=10)
    if len(plaintext) >= count or proc.returncode == 0:
        return Peek(plaintext, None)
    return Peek(plaintext, age_error(b"".join(errors).decode("utf-8", "replace")))
