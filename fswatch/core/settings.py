"""A watch's settings, value by value: identifier rules, the seed's ranges, the schedule, and
the config file's syntax (fswatch.kinds.settings makes a whole watch's settings of them).

Everything here validates before it touches a path or a unit name (SPEC.md section 1):
refused input raises UsageError (alert 11, exit 2) and nothing is written.
"""

from __future__ import annotations

import configparser
import ipaddress
import re
from dataclasses import dataclass
from typing import Dict, Optional

from fswatch.core import alerts
from fswatch.core import evidence as evidence_rule
from fswatch.core.errors import UsageError

RANGE = (1, 10000)  # the seed's range for interval, retries, timeout and -stop's wait
ID_MAX_BYTES = 200
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ATTRIBUTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*\Z")


def check_id(watch_id: Optional[str]) -> str:
    """Letters, digits, '_' and '-', first a letter or digit, 1..200 bytes, case-sensitive."""
    if not watch_id:
        raise UsageError("the watch identifier is empty", alert=alerts.NO_ID)
    if not _ID.match(watch_id) or not watch_id.isascii():
        raise UsageError(
            f"invalid identifier {watch_id!r}: use letters, digits, '_' and '-', starting with a letter or digit"
        )
    if len(watch_id.encode()) > ID_MAX_BYTES:
        raise UsageError(f"invalid identifier: {len(watch_id.encode())} bytes, at most {ID_MAX_BYTES}")
    return watch_id



def valid_id(watch_id: str) -> bool:
    """Whether check_id() would take `watch_id`."""
    try:
        check_id(watch_id)
    except UsageError:
        return False
    return True


def check_range(name: str, value: object, lo: int = RANGE[0], hi: int = RANGE[1]) -> int:
    """An integer in lo..hi given as int or decimal text (no signs, no floats, no spaces)."""
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or not text.isascii():
        raise UsageError(f"{name} must be a whole number {lo}..{hi}, not {text!r}")
    number = int(text)
    if not lo <= number <= hi:
        raise UsageError(f"{name} must be {lo}..{hi}, not {number}")
    return number


def check_port(name: str, value: object) -> int:
    return check_range(name, value, 1, 65535)


def check_text(name: str, value: object, max_bytes: int = 255) -> str:
    """Free text (share, user): UTF-8, no control characters, at most max_bytes bytes."""
    text = str(value)
    if not text:
        raise UsageError(f"{name} is empty")
    if _CONTROL.search(text):
        raise UsageError(f"{name} contains a control character")
    if text != text.strip():
        # The config file (configparser) strips values: the text would not come back as given.
        raise UsageError(f"{name} {text!r} begins or ends with white space: refused")
    if len(text.encode("utf-8", "surrogateescape")) > max_bytes:
        raise UsageError(f"{name} is longer than {max_bytes} bytes")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{name} is not valid UTF-8") from None
    return text


PASSWORD_MAX_BYTES = 256


def check_password(value: Optional[str], where: str = "the password") -> Optional[str]:
    """A password is one line of UTF-8 text without control characters; kept exactly as
    given (white space included: it goes to a 0600 file, not through the config parser)."""
    if value is None:
        return None
    try:
        encoded = value.encode("utf-8")  # a command line's invalid UTF-8 arrives as surrogates
    except UnicodeEncodeError:
        raise UsageError(f"{where} is not valid UTF-8 text: refused") from None
    if _CONTROL.search(value):
        raise UsageError(f"{where} contains a control character (NUL, a line break, ...): refused")
    if len(encoded) > PASSWORD_MAX_BYTES:
        raise UsageError(f"{where} is longer than {PASSWORD_MAX_BYTES} bytes: refused")
    return value


def check_share(value: object) -> str:
    share = check_text("share", value)
    if any(c in share for c in '\\/:*?"<>|'):
        raise UsageError(f"share {share!r} contains a character not allowed in a share name")
    return share


def check_export(value: object) -> str:
    path = check_text("export", value, 1024)  # MNTPATHLEN (RFC 1813)
    if not path.startswith("/"):
        raise UsageError(f"export {path!r} must be an absolute path")
    return path


CANARY_MAX_BYTES = 1024  # NFS's MAXPATHLEN; an SMB path may be longer, a canary needs not be
CANARY_COMPONENT_MAX_BYTES = 255  # NAME_MAX of the file systems beneath smbd and ganesha


def check_canary(value: object) -> str:
    """A file inside the share or export, relative to its root: `dir/file`, '/' between names.

    No leading '/', no empty, '.' or '..' component (the canary stays inside the share or
    export, whatever the server would make of them), no backslash (SMB's separator: one
    spelling per path), no control character.
    """
    return _check_relative("canary", value)


def check_canary_write(value: object) -> str:
    """The write canary's directory, relative to the share or export root like a canary file
    (check_canary's rules), or "." for the root itself."""
    return "." if value == "." else _check_relative("canary-write", value)


def _check_relative(name: str, value: object) -> str:
    path = check_text(name, value, CANARY_MAX_BYTES)
    if path.startswith("/"):
        raise UsageError(f"{name} {path!r} must be relative to the share or export root, not absolute")
    if "\\" in path:
        raise UsageError(f"{name} {path!r} contains a backslash: separate names with '/'")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise UsageError(f"{name} {path!r} has an empty, '.' or '..' component: refused")
        if len(part.encode("utf-8")) > CANARY_COMPONENT_MAX_BYTES:
            raise UsageError(f"{name} {path!r} has a name longer than {CANARY_COMPONENT_MAX_BYTES} bytes")
    return path


HOST_MAX_BYTES = 253  # RFC 1035 section 2.3.4 (255 on the wire)
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def check_address(value: object) -> str:
    """An IPv4 or IPv6 address (normalised), or a host name kept as given: RFC 1123 section 2.1
    labels (letters, digits and '-', 1-63 bytes, not beginning or ending with '-'), at most 253
    bytes, one trailing dot allowed. A name is looked up in every probe, within its deadline
    (fswatch.probes.resolve)."""
    text = str(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if not name or len(name) > HOST_MAX_BYTES or not all(_LABEL.match(label) for label in labels):
        raise UsageError(
            f"address {text!r} is neither an IP address nor a host name (dot-separated labels of "
            f"letters, digits and '-', at most 63 bytes each and {HOST_MAX_BYTES} in all)"
        )
    if labels[-1].isdigit():
        # RFC 1123 section 2.1: a name never looks like a number; getaddrinfo would read
        # "10.1" or "1.2.3" as inet_aton() does (10.0.0.1, 1.2.0.3), not as a name.
        raise UsageError(f"address {text!r} is not an IP address, and a host name's last label is not all digits")
    return text


def is_host_name(address: str) -> bool:
    """A checked address (check_address) that is a host name, not an IP address."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return True
    return False


# Pacemaker's node health (node-health-strategy): an attribute named #health-* holds green,
# yellow or red, which the cluster itself acts on (migrate-on-red, progressive).
HEALTH_PREFIX = "#health-"


def check_attribute(value: object) -> str:
    """A Pacemaker node attribute name (health attribute mode): it goes to attrd_updater -n
    and into location rules, so letters, digits, '_', '-', '.' and ':' only, at most 200 bytes;
    or #health-NAME, a node health attribute (green / yellow / red)."""
    text = str(value)
    name = text[len(HEALTH_PREFIX):] if text.startswith(HEALTH_PREFIX) else text
    if not _ATTRIBUTE.match(name) or not text.isascii() or len(text) > ID_MAX_BYTES:
        raise UsageError(
            f"invalid attribute name {text!r}: use letters, digits, '_', '-', '.' and ':', "
            f"starting with a letter or digit (or {HEALTH_PREFIX}NAME for Pacemaker's node health)"
        )
    return text


def is_health_attribute(name: str) -> bool:
    return name.startswith(HEALTH_PREFIX)


def check_cluster_name(what: str, value: object) -> str:
    """A Pacemaker resource ID or node name, as the OCF agent hands it to the watch so it can
    tell the cluster itself (crm_resource --fail): an XML ID or a host name, at most 200 bytes."""
    text = str(value)
    if not _CLUSTER_NAME.match(text) or not text.isascii() or len(text) > ID_MAX_BYTES:
        raise UsageError(f"invalid {what} {text!r}: use letters, digits, '_', '-', '.' and ':'")
    return text


TRUE_WORDS = ("yes", "true", "on", "1")
FALSE_WORDS = ("no", "false", "off", "0")


def check_bool(name: str, value: object) -> bool:
    """A yes/no setting: True/False, or the words the config file, the CLI and Pacemaker use
    (conf writes "yes"; OCF meta-data's boolean passes "true"/"false"; smb.conf-style yes/no/on/off/1/0)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise UsageError(f"{name} must be yes or no, not {str(value)!r}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    text = str(value)
    if text not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, not {text!r}")
    return text


@dataclass(frozen=True)
class Schedule:
    """When probes run and when a server is declared failed (SPEC.md section 2)."""

    interval: int = 30
    retries: int = 5
    timeout: int = 60
    # Which evidence from the server's own process declares a probe failed at its deadline at
    # once (fswatch.core.evidence): off, stopped, or blocked (stopped too). Blocked is opt-in:
    # a server waiting out its backend's short hiccup looks blocked as well.
    evidence: str = evidence_rule.STOPPED

    @classmethod
    def parse(
        cls, interval: object = None, retries: object = None, timeout: object = None, evidence: object = None
    ) -> Schedule:
        """Checked values; None takes the default above (the one place defaults are written)."""
        default = cls()
        return cls(
            check_range("interval", default.interval if interval is None else interval),
            check_range("retries", default.retries if retries is None else retries),
            check_range("timeout", default.timeout if timeout is None else timeout),
            check_choice("evidence", default.evidence if evidence is None else evidence, evidence_rule.POLICIES),
        )

    @property
    def fields(self) -> Dict[str, int]:
        """The numbers (the state file's `schedule`, the metrics' labels); `evidence` beside them."""
        return {"interval": self.interval, "retries": self.retries, "timeout": self.timeout}

    @property
    def attempts(self) -> int:
        """Consecutive failed probes that declare the server failed."""
        return self.retries + 1

    @property
    def detection_bound(self) -> float:
        """A fault at t0 is declared by t0 + this (plus at most 0.5 s of scheduling slack)."""
        return self.interval + self.retries * max(self.interval, self.timeout) + self.timeout

    @property
    def evidence_bound(self) -> float:
        """A server seen stopped is declared by t0 + this (plus the same slack), whatever
        `retries`: the next probe fails at its deadline and declares at once."""
        return self.interval + self.timeout

    @property
    def checkpoint(self) -> float:
        """Seconds into a probe at which the server's process is first sampled: half the
        timeout, the slow budget (a healthy probe has long ended by then)."""
        return self.timeout / 2

    @property
    def watchdog_seconds(self) -> int:
        """The watchdog period: the loop pings before every probe and while it waits, so the
        longest silence is one probe, which ends by its deadline (timeout + 0.1 s)."""
        return self.timeout + 5

    @property
    def slow_ms(self) -> float:
        """A healthy probe slower than this is reported as slow (alert 92)."""
        return self.timeout * 1000.0 / 2


def parse_conf(text: str, source: str) -> Dict[str, str]:
    """The [watch] section of a config file as plain strings; malformed → UsageError."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(f"{source}: not a valid fswatch config ({first})") from None
    if not parser.has_section("watch"):
        raise UsageError(f"{source}: no [watch] section")
    return dict(parser.items("watch"))
