"""TLS on the link between robots (actors) and the learner: the learner's certificate, the CA an actor
trusts it by, and optionally (mutual TLS) a certificate per robot, so that only enrolled robots connect.

gRPC does the encryption. What is ours: reading the files with errors that name them, and saying in a
robotics user's words why a connection was refused. gRPC reports every TLS failure as UNAVAILABLE,
like a learner that is not up yet; :func:`diagnose` shakes hands with the learner once more through
Python's ``ssl`` and names the cause (a certificate from another CA, an expired one, a host name the
certificate does not hold, no robot certificate, a learner without TLS), so that the actor stops at
once with it instead of retrying for its whole patience.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

HANDSHAKE_TIMEOUT_S = 5.0
UNTRUSTED_CODES = {2, 7, 18, 19, 20, 21}
"""OpenSSL verify codes for a chain that does not lead to the trusted CA (unknown issuer, a signature
that is not the CA's of that name, self-signed, unable to get the local issuer, unable to verify the leaf)."""
EXPIRED_CODES = {9, 10}
"""OpenSSL verify codes: not yet valid, expired."""
HOST_MISMATCH_CODE = 62


class TLSError(ConnectionError):
    """A TLS connection cannot be made; the message says why and what to do."""


class TLSFileError(ValueError):
    """A certificate, key or CA file is missing or not PEM, or a pair is incomplete; the message names it."""


def read_pem(path: Path, what: str) -> bytes:
    """The bytes of a PEM file, or a TLSFileError naming the file and ``what`` it should hold."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSFileError(f"{what} {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise TLSFileError(f"{what} {path} is not a PEM file (no -----BEGIN line)")
    return data


@dataclass(frozen=True)
class ServerTLS:
    """The learner's side: its certificate and key; ``client_ca`` requires every actor to present a
    certificate signed by that CA (mutual TLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        pair = (read_pem(self.key, "the learner's key (--tls-key)"), read_pem(self.cert, "the learner's certificate (--tls-cert)"))
        roots = read_pem(self.client_ca, "the robots' CA (--tls-client-ca)") if self.client_ca else None
        return grpc.ssl_server_credentials([pair], root_certificates=roots, require_client_auth=roots is not None)

    def describe(self) -> str:
        return "TLS, robot certificates required" if self.client_ca else "TLS"


@dataclass(frozen=True)
class ClientTLS:
    """An actor's side: the CA that signed the learner's certificate, and this robot's certificate
    and key where the learner requires them."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise TLSFileError("a robot certificate needs both --tls-client-cert and --tls-client-key")

    def credentials(self) -> grpc.ChannelCredentials:
        roots = read_pem(self.ca, "the CA (--tls-ca)")
        if self.cert is None:
            return grpc.ssl_channel_credentials(root_certificates=roots)
        return grpc.ssl_channel_credentials(root_certificates=roots,
                                            private_key=read_pem(self.key, "this robot's key (--tls-client-key)"),
                                            certificate_chain=read_pem(self.cert, "this robot's certificate (--tls-client-cert)"))


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def diagnose(address: str, tls: ClientTLS) -> str | None:
    """Why a TLS connection to ``address`` fails, in words, or None when nothing answers there (the
    learner is not up yet: worth waiting for) or the handshake succeeds."""
    host, port = split_address(address)
    context = ssl.create_default_context(cafile=str(tls.ca))
    context.set_alpn_protocols(["h2"])
    if tls.cert is not None:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    try:
        raw = socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT_S)
    except OSError:
        return None
    try:
        with context.wrap_socket(raw, server_hostname=host) as conn:
            conn.settimeout(HANDSHAKE_TIMEOUT_S)
            try:  # under TLS 1.3 the learner judges this robot's certificate after the handshake
                first = conn.recv(1)
            except (TimeoutError, socket.timeout):
                return None
            except ssl.SSLError as exc:
                return _client_refused(str(exc), tls)
            # A learner that accepts the robot speaks first (HTTP/2 settings); one that refuses it hangs up.
            return None if first else _client_refused("", tls)
    except ssl.SSLCertVerificationError as exc:
        return _learner_untrusted(exc, host, tls)
    except ssl.SSLError as exc:
        if "WRONG_VERSION_NUMBER" in str(exc) or "RECORD_LAYER_FAILURE" in str(exc):
            return (f"the learner at {address} does not speak TLS: start it with --tls-cert and --tls-key, "
                    "or connect without --tls-ca (loopback, or --insecure)")
        return _client_refused(str(exc), tls)
    except OSError:
        return None
    finally:
        raw.close()


def _learner_untrusted(exc: ssl.SSLCertVerificationError, host: str, tls: ClientTLS) -> str:
    code = exc.verify_code
    if code in EXPIRED_CODES:
        return (f"the learner's certificate is {'expired' if code == 10 else 'not valid yet'} "
                f"({exc.verify_message}): make it again (hilserl fleet certs) or check this computer's clock")
    if code == HOST_MISMATCH_CODE:
        return (f"the learner's certificate does not name the host {host!r} this actor connects to: connect by a "
                f"name the certificate holds, or make it again with --learner-host {host}")
    if code in UNTRUSTED_CODES:
        return (f"the learner's certificate is not signed by the CA in --tls-ca ({tls.ca}): give the ca.pem made "
                f"with the learner's certificate ({exc.verify_message})")
    return f"the learner's certificate was refused: {exc.verify_message}"


def _client_refused(error: str, tls: ClientTLS) -> str:
    """Why the learner refused this actor after the handshake (``error``: the TLS alert, or "" when it
    just hung up, as a gRPC learner does)."""
    text = error.upper()
    if tls.cert is None and (not text or "CERTIFICATE_REQUIRED" in text or "HANDSHAKE_FAILURE" in text):
        return ("the learner requires a robot certificate (it runs with --tls-client-ca): pass --tls-client-cert "
                "and --tls-client-key (hilserl fleet certs makes one per robot)")
    if "CERTIFICATE_EXPIRED" in text:
        return f"the learner refused this robot's certificate ({tls.cert}): it has expired; make it again"
    if not text or "UNKNOWN_CA" in text or "BAD_CERTIFICATE" in text or "DECRYPT_ERROR" in text:
        return (f"the learner refused this robot's certificate ({tls.cert}): it is not signed by the CA the learner "
                "trusts (its --tls-client-ca)")
    return f"the TLS handshake with the learner failed: {error}"
