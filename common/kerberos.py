"""Kerberos for every entry point, switched on as in the original framework by the environment:

    KRB_AUTH     any non-empty value but "false" or "0" turns Kerberos on
    KEYTABPATH   the keytab to log in with                             (required when on)
    KRB_USER     the principal, e.g. spot@EXAMPLE.COM                   (required when on)
    KINITPATH    the kinit program                                (default: kinit on PATH)
    KINITOPTS    extra kinit options, split like a shell would (never run by one)

With Kerberos on, a process runs `kinit <KINITOPTS> -kt KEYTABPATH KRB_USER` before it connects
to anything, and a daemon thread runs it again before the ticket ends, for as long as the
process lives. The ticket goes to a credential cache of the process's own,
FILE:<tmp>/krb5cc_spot_<pid> (KRB5CCNAME, inherited by the programs it starts: spark-submit,
the master's collector processes), removed when the process exits. Why not the user's cache
(/tmp/krb5cc_<uid>): a master and its workers usually run on one host as one user, and every
kinit re-creates that one file, truncating it first, so a process reading it at that moment
finds no ticket and fails a connection; processes logged in as different principals would
overwrite each other's identity; and a `kdestroy` or `kinit` in the user's terminal would pull
the ticket from under running daemons. For the same reason a renewal never rewrites the cache
in place: kinit writes a new file beside it, which replaces the old one in one rename.

The clients then use that ticket (see configure): Kafka through SASL/GSSAPI when
kafka.security_protocol says so, WebHDFS through SPNEGO, the metastore through a SASL
transport when hive.sasl is set, spark-submit with --principal/--keytab.
"""
from __future__ import annotations

import atexit
import logging
import os
import shlex
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from common.errors import ConfigError

if TYPE_CHECKING:
    from common.config import IngestConfig

log = logging.getLogger("spot.kerberos")

SWITCH = "KRB_AUTH"
REQUIRED = ("KEYTABPATH", "KRB_USER")
KINIT_TIMEOUT_S = 60
RENEW_FRACTION = 0.8    # renew once 80 % of the ticket's remaining life has passed
MIN_DELAY_S = 5.0
RETRY_S = 60.0          # a failed renewal is retried at most this long after


class KerberosError(ConfigError):
    """Kerberos asked for but unusable: a variable missing, kinit refused. One line, exit 1."""


@dataclass(frozen=True)
class KinitSettings:
    kinit: str
    options: tuple[str, ...]
    keytab: str
    principal: str

    def argv(self) -> list[str]:
        return [self.kinit, *self.options, "-kt", self.keytab, self.principal]


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(SWITCH, "")
    return value.strip().lower() not in ("", "false", "0")


def settings_from_environment(environ: Mapping[str, str] | None = None) -> KinitSettings | None:
    """None when Kerberos is off; KerberosError naming every missing variable."""
    env = os.environ if environ is None else environ
    if not enabled(env):
        return None
    missing = [name for name in REQUIRED if not env.get(name, "").strip()]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise KerberosError(f"{SWITCH} is set but {', '.join(missing)} {verb} not")
    try:
        options = tuple(shlex.split(env.get("KINITOPTS", "")))
    except ValueError as exc:
        raise KerberosError(f"KINITOPTS: cannot split {env['KINITOPTS']!r}: {exc}") from None
    return KinitSettings(kinit=env.get("KINITPATH", "").strip() or "kinit", options=options,
                         keytab=env["KEYTABPATH"].strip(), principal=env["KRB_USER"].strip())


def private_cache(pid: int | None = None) -> str:
    return "FILE:" + os.path.join(tempfile.gettempdir(), f"krb5cc_spot_{pid or os.getpid()}")


def kinit(settings: KinitSettings, cache: str) -> None:
    """Runs kinit into a new file beside `cache` (FILE:path), then renames it into place, so a
    reader of the cache always finds a whole one. KerberosError with kinit's own message."""
    path = cache[len("FILE:"):] if cache.startswith("FILE:") else cache
    fresh = f"{path}.new"
    try:
        done = subprocess.run(settings.argv(), env={**os.environ, "KRB5CCNAME": f"FILE:{fresh}"},
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=KINIT_TIMEOUT_S)
    except FileNotFoundError:
        raise KerberosError(f"cannot run {settings.kinit!r} (KINITPATH): no such program") \
            from None
    except PermissionError:
        raise KerberosError(f"cannot run {settings.kinit!r} (KINITPATH): permission denied") \
            from None
    except subprocess.TimeoutExpired:
        _remove(fresh)
        raise KerberosError(f"kinit for {settings.principal} did not finish in "
                            f"{KINIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        _remove(fresh)
        text = (done.stderr or done.stdout).decode("utf-8", "replace")
        text = text.split("\nUsage:", 1)[0]          # a bad KINITOPTS: the reason, not the usage
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        raise KerberosError(" ".join(lines) or f"kinit exited with {done.returncode}")
    try:
        os.replace(fresh, path)
    except FileNotFoundError:
        raise KerberosError(f"kinit wrote no credential cache {fresh} (does KINITOPTS name "
                            "another one with -c?)") from None


def remaining_seconds(cache: str) -> float:
    """Seconds the cache's ticket (the TGT) stays valid; 0 when it has none or it expired."""
    try:
        import gssapi
    except ImportError:
        raise KerberosError("Kerberos needs the gssapi package: pip install -r requirements.txt "
                            "(it builds against libkrb5-dev)") from None

    try:
        return float(gssapi.Credentials(usage="initiate", store={"ccache": cache}).lifetime)
    except gssapi.exceptions.GSSError:
        return 0.0


def renew_delay(remaining: float) -> float:
    """When to run kinit again: well before the end, never in a tight loop."""
    return max(MIN_DELAY_S, remaining * RENEW_FRACTION)


def retry_delay(remaining: float) -> float:
    return max(MIN_DELAY_S, min(RETRY_S, remaining / 2))


class TicketRenewal(threading.Thread):
    """Runs kinit from the keytab again before the ticket ends, for the life of the process.
    A failure (the KDC away) is logged and retried; the old ticket serves until it ends."""

    def __init__(self, settings: KinitSettings, cache: str, remaining: float):
        super().__init__(name="kerberos-renewal", daemon=True)
        self.settings, self.cache = settings, cache
        self.delay = renew_delay(remaining)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.delay):
            try:
                kinit(self.settings, self.cache)
            except KerberosError as exc:
                self.delay = retry_delay(remaining_seconds(self.cache))
                log.warning("kerberos: renewing the ticket of %s failed, retrying in %.0f s: %s",
                            self.settings.principal, self.delay, exc)
                continue
            remaining = remaining_seconds(self.cache)
            self.delay = renew_delay(remaining)
            log.info("kerberos: ticket of %s renewed, valid %.0f s, next renewal in %.0f s",
                     self.settings.principal, remaining, self.delay)

    def stop(self) -> None:
        self.stopping.set()


_active: TicketRenewal | None = None


def login(settings: KinitSettings) -> TicketRenewal:
    """kinit into this process's own cache (KRB5CCNAME from now on, for this process and the
    programs it starts), then keep the ticket fresh. Once per process."""
    global _active
    if _active is not None:
        return _active
    cache = private_cache()
    kinit(settings, cache)
    try:
        remaining = remaining_seconds(cache)
        if remaining <= 0:
            raise KerberosError(f"kinit for {settings.principal} left no valid ticket in {cache}")
    except KerberosError:
        _remove(cache[len("FILE:"):])
        raise
    os.environ["KRB5CCNAME"] = cache
    renewal = TicketRenewal(settings, cache, remaining)
    renewal.start()
    atexit.register(_logout, renewal, os.getpid())
    _active = renewal
    log.info("kerberos: logged in as %s (cache %s, ticket valid %.0f s, renewed in %.0f s)",
             settings.principal, cache, remaining, renewal.delay)
    return renewal


def configure(config: "IngestConfig") -> None:
    """Everything Kerberos for one process, once its configuration is loaded and before it
    connects: the login when KRB_AUTH asks for it, and the metastore transport of hive.sasl
    (which Catalog cannot read from the configuration: its callers hand it URIs)."""
    from common import catalog

    catalog.use_sasl(config.hive.kerberos_service_name if config.hive.sasl else None)
    settings = settings_from_environment()
    if settings is not None:
        login(settings)


def _logout(renewal: TicketRenewal, pid: int) -> None:
    if os.getpid() != pid:      # a forked child leaving: the cache is its parent's
        return
    renewal.stop()
    path = renewal.cache[len("FILE:"):]
    _remove(path)
    _remove(f"{path}.new")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
