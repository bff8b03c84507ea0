"""Certificates for a lab without its own PKI (``hilserl fleet certs``): a CA, the learner's certificate
for the host names and addresses robots reach it by, and one certificate per robot.

ECDSA P-256 keys, written beside their certificates with owner-only permissions. The CA's key signs
new robots later (``--add-robot``); keep it off the robots.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 365
CA_NAME = "hilserl fleet CA"
"""Followed by a random id: two labs' CAs never share a name."""


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes, secret: bool) -> None:
    if path.exists():
        raise FileExistsError(f"{path} exists: remove it, or write to another --out folder (nothing was overwritten)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _save(out: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    issued = Issued(out / f"{stem}.pem", out / f"{stem}.key")
    _write(issued.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), secret=True)
    _write(issued.cert, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    return issued


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _sign(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey,
          start: dt.datetime, days: int, ca: bool = False, hosts: tuple[str, ...] = (),
          usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                        critical=True)
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(out: Path, days: int = DEFAULT_DAYS, start: dt.datetime | None = None) -> Issued:
    start = start or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    key = _new_key()
    name = f"{CA_NAME} {secrets.token_hex(4)}"
    return _save(out, "ca", _sign(name, key, _name(name), key, start, days, ca=True), key)


def _load_ca(ca: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca.key} is not an EC key made by hilserl fleet certs")
    return cert, key


def make_learner(out: Path, ca: Issued, hosts: list[str], days: int = DEFAULT_DAYS,
                 start: dt.datetime | None = None) -> Issued:
    """The learner's certificate, valid for each of ``hosts`` (names or IP addresses)."""
    if not hosts:
        raise ValueError("the learner's certificate needs the host names or addresses robots reach it by "
                         "(--learner-host, repeatable)")
    ca_cert, ca_key = _load_ca(ca)
    start = start or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    key = _new_key()
    cert = _sign(hosts[0], key, ca_cert.subject, ca_key, start, days, hosts=tuple(hosts),
                 usage=ExtendedKeyUsageOID.SERVER_AUTH)
    return _save(out, "learner", cert, key)


def make_robot(out: Path, ca: Issued, name: str, days: int = DEFAULT_DAYS, start: dt.datetime | None = None) -> Issued:
    """A robot's (an actor's) client certificate, named ``name``."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"robot name {name!r}: use letters, digits, - and _")
    ca_cert, ca_key = _load_ca(ca)
    start = start or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    key = _new_key()
    cert = _sign(name, key, ca_cert.subject, ca_key, start, days, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return _save(out, f"robot-{name}", cert, key)


def make_fleet(out: Path, learner_hosts: list[str], robots: list[str], days: int = DEFAULT_DAYS) -> list[Path]:
    """A CA, the learner's certificate and one per robot in ``out`` (created); refuses to overwrite."""
    if not learner_hosts:
        raise ValueError("give the learner's host names or addresses (--learner-host, repeatable)")
    stems = ["ca", "learner", *(f"robot-{name}" for name in robots)]
    there = [out / f"{stem}.{ext}" for stem in stems for ext in ("pem", "key") if (out / f"{stem}.{ext}").exists()]
    if there:
        raise FileExistsError(f"{', '.join(map(str, there))} exist: write to another --out folder (nothing was "
                              "overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    ca = make_ca(out, days)
    written = [ca.cert, ca.key]
    learner = make_learner(out, ca, learner_hosts, days)
    written += [learner.cert, learner.key]
    for name in robots:
        robot = make_robot(out, ca, name, days)
        written += [robot.cert, robot.key]
    return written
