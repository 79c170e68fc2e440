"""A small local certificate authority for terminals (the `kiosk pki` commands).

Terminals prove who they are to nginx with a client certificate issued here;
nginx checks it against ``ca.crt`` and the revocation list ``crl.pem`` before the
portal sees a request, and the portal compares the certificate's SHA-256
fingerprint with the one recorded for the terminal.

Layout of the PKI folder (``KIOSK_PKI_DIR``, default ``<instance>/pki``)::

    ca.key  ca.crt          the terminal CA (key mode 0600: keep it offline if you can)
    crl.pem                 the revocation list nginx loads (``ssl_crl``)
    index.json              every certificate issued: serial, name, fingerprint, revoked
    issued/<serial>.crt     issued certificates, their keys (0600) and optional .p12 bundles

Keys are ECDSA P-256: small, fast, and understood by nginx, OpenSSL and browsers.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CRL = "crl.pem"
INDEX = "index.json"
ISSUED = "issued"
# A revocation list that has passed its next-update time makes nginx refuse every
# terminal, so it is short enough to be refreshed by a timer and long enough to
# survive a missed run or two (see deploy/kiosk-crl.timer).
CRL_DAYS = 7
TERMINAL_DAYS = 825  # the longest validity browsers accept for any leaf certificate
CA_DAYS = 3650
_CLOCK_SKEW = dt.timedelta(minutes=5)


class PkiError(Exception):
    """A PKI command cannot be carried out; the message says why."""


@dataclass
class Issued:
    """One certificate this CA issued."""

    serial: str  # hex
    name: str
    kind: str  # "terminal" or "server"
    fingerprint: str  # SHA-256 of the DER certificate, lower-case hex
    not_after: str  # ISO 8601
    revoked_at: str | None = None
    terminal_id: int | None = None

    @property
    def cert_path(self) -> str:
        """Where the certificate is, relative to the PKI folder."""
        return f"{ISSUED}/{self.serial}.crt"

    @property
    def key_path(self) -> str:
        """Where its private key is, relative to the PKI folder."""
        return f"{ISSUED}/{self.serial}.key"


def fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint the portal records and compares (lower-case hex)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TerminalCA:
    """The CA in one folder: issue, revoke, and write the revocation list."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @property
    def exists(self) -> bool:
        """True once ``init`` has run here."""
        return (self.dir / CA_CERT).exists() and (self.dir / CA_KEY).exists()

    @property
    def ca_cert_path(self) -> Path:
        """The CA certificate nginx trusts (``ssl_client_certificate``)."""
        return self.dir / CA_CERT

    @property
    def crl_path(self) -> Path:
        """The revocation list nginx loads (``ssl_crl``)."""
        return self.dir / CRL

    # The CA -------------------------------------------------------------------------

    def init(self, common_name: str, *, days: int = CA_DAYS, now: dt.datetime | None = None) -> str:
        """Make the CA key and certificate and an empty revocation list; returns its fingerprint."""
        if self.exists:
            raise PkiError(f"a CA exists already in {self.dir}")
        now = now or _now()
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=days))
            # A CA that can sign only end-entity certificates, never another CA.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        _write_private(self.dir / CA_KEY, _key_pem(key))
        _write_public(self.dir / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
        self._save_index([])
        self.write_crl(now=now)
        return fingerprint(cert)

    def _load_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if not self.exists:
            raise PkiError(f"no CA in {self.dir}: run `kiosk pki init` first")
        key = serialization.load_pem_private_key((self.dir / CA_KEY).read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError("the CA key is not an EC key")
        cert = x509.load_pem_x509_certificate((self.dir / CA_CERT).read_bytes())
        return key, cert

    # The index ----------------------------------------------------------------------

    def certificates(self) -> list[Issued]:
        """Every certificate issued, oldest first."""
        path = self.dir / INDEX
        if not path.exists():
            return []
        rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return [Issued(**row) for row in rows]

    def _save_index(self, rows: list[Issued]) -> None:
        data = json.dumps([asdict(r) for r in rows], indent=2).encode("utf-8")
        _write_public(self.dir / INDEX, data)

    def find(self, ref: str) -> Issued:
        """A certificate by serial (hex) or SHA-256 fingerprint (colons allowed)."""
        wanted = ref.replace(":", "").strip().lower()
        found = [c for c in self.certificates() if wanted in (c.serial, c.fingerprint)]
        if not found:
            raise PkiError(f"no certificate with serial or fingerprint {ref!r}")
        return found[0]

    # Issuing ------------------------------------------------------------------------

    def issue_terminal(
        self,
        name: str,
        *,
        days: int = TERMINAL_DAYS,
        terminal_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> Issued:
        """A client certificate for one terminal (clientAuth only)."""
        return self._issue(name, kind="terminal", days=days, terminal_id=terminal_id, now=now)

    def issue_server(
        self, hosts: list[str], *, days: int = TERMINAL_DAYS, now: dt.datetime | None = None
    ) -> Issued:
        """A TLS server certificate for nginx (for a test or demo stack; sites use their own)."""
        if not hosts:
            raise PkiError("give at least one host name or address")
        return self._issue(hosts[0], kind="server", days=days, hosts=hosts, now=now)

    def _issue(
        self,
        name: str,
        *,
        kind: str,
        days: int,
        hosts: list[str] | None = None,
        terminal_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> Issued:
        name = name.strip()
        if not name or len(name) > 64 or re.search(r"[\x00-\x1f\x7f]", name):
            raise PkiError("a certificate name has 1 to 64 printable characters")
        ca_key, ca_cert = self._load_ca()
        now = now or _now()
        key = ec.generate_private_key(ec.SECP256R1())
        usage = (
            ExtendedKeyUsageOID.CLIENT_AUTH
            if kind == "terminal"
            else (ExtendedKeyUsageOID.SERVER_AUTH)
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            # A terminal certificate cannot serve TLS, and a server one cannot sign in.
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        issued = Issued(
            serial=format(cert.serial_number, "x"),
            name=name,
            kind=kind,
            fingerprint=fingerprint(cert),
            not_after=cert.not_valid_after_utc.isoformat(),
            terminal_id=terminal_id,
        )
        _write_private(self.dir / issued.key_path, _key_pem(key))
        _write_public(self.dir / issued.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        self._save_index([*self.certificates(), issued])
        return issued

    def export_p12(self, issued: Issued) -> tuple[Path, str]:
        """Bundle a certificate and its key for a device; returns the file and its passphrase."""
        key = serialization.load_pem_private_key((self.dir / issued.key_path).read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError("the key is not an EC key")
        cert = x509.load_pem_x509_certificate((self.dir / issued.cert_path).read_bytes())
        _, ca_cert = self._load_ca()
        passphrase = secrets.token_urlsafe(12)
        data = pkcs12.serialize_key_and_certificates(
            issued.name.encode("utf-8"),
            key,
            cert,
            [ca_cert],
            serialization.BestAvailableEncryption(passphrase.encode("ascii")),
        )
        path = self.dir / ISSUED / f"{issued.serial}.p12"
        _write_private(path, data)
        return path, passphrase

    # Revoking -----------------------------------------------------------------------

    def revoke(self, ref: str, *, now: dt.datetime | None = None) -> Issued:
        """Put a certificate on the revocation list and rewrite the list."""
        now = now or _now()
        target = self.find(ref)
        rows = self.certificates()
        for row in rows:
            if row.serial == target.serial and row.revoked_at is None:
                row.revoked_at = now.isoformat()
                target = row
        self._save_index(rows)
        self.write_crl(now=now)
        return target

    def write_crl(self, *, days: int = CRL_DAYS, now: dt.datetime | None = None) -> Path:
        """Sign a fresh revocation list with every revoked certificate on it."""
        ca_key, ca_cert = self._load_ca()
        now = now or _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - _CLOCK_SKEW)
            .next_update(now + dt.timedelta(days=days))
        )
        for row in self.certificates():
            if row.revoked_at is None:
                continue
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(row.serial, 16))
                .revocation_date(dt.datetime.fromisoformat(row.revoked_at))
                .build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        _write_public(self.dir / CRL, crl.public_bytes(serialization.Encoding.PEM))
        return self.dir / CRL
