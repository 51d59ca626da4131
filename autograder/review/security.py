"""Who may use the review app, and what a page may do.

- **Every request is authenticated.** Either a token, printed when the app starts (as Jupyter
  does): opening `/?token=...` once gives the browser a session cookie for the TA named at start;
  or, when course_config.py lists TA logins (`"tas": {"alice": "<hash>"}`, hashes from
  `autograder ta-password`), a login page. The session cookie is signed (HMAC-SHA256 with a
  secret made at start), HttpOnly and SameSite=Strict, and names the TA whose name goes on
  every grade. Anything else is refused (403), static files included.
- **State-changing requests carry a CSRF token** (an HMAC of the session's nonce) in the form,
  and a browser's Origin header, when sent, must be the app's own; SameSite=Strict keeps the
  cookie off cross-site requests too.
- **Pages run only the app's script** (Content-Security-Policy: scripts and styles from the app,
  images only as `data:`, no frames, forms only to the app), are never framed, send no
  referrer to other sites and are not cached.
- **The Host header** must be the address the app listens on (no DNS rebinding).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

PBKDF2 = "pbkdf2_sha256"
PBKDF2_ITERATIONS = 600_000
SESSION_COOKIE = "review_session"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # "no-referrer" would make form posts send Origin: null
    "cache-control": "no-store",
}


def hash_password(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A TA's password as course_config.py stores it: `pbkdf2_sha256$iterations$salt$hash`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encode = base64.urlsafe_b64encode
    return f"{PBKDF2}${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, iterations, salt, digest = stored.split("$")
        expected = base64.urlsafe_b64decode(digest)
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.urlsafe_b64decode(salt),
                                  int(iterations))  # fmt: skip
    except ValueError:
        return False
    return kind == PBKDF2 and hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Session:
    ta: str
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Gate:
    """The app's secret, its way in (token or TA logins) and its sessions."""

    def __init__(self, ta: str, logins: dict[str, str] | None = None):
        self.secret = secrets.token_bytes(32)
        self.logins = dict(logins or {})
        self.token = None if self.logins else secrets.token_urlsafe(24)
        self.ta = ta  # the name on grades made with the token

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def token_matches(self, offered: str | None) -> bool:
        return bool(self.token and offered) and hmac.compare_digest(offered.encode(),
                                                                    self.token.encode())

    def login(self, name: str, password: str) -> Session | None:
        stored = self.logins.get(name)
        if stored is None:
            check_password(password, hash_password("", 1000))  # the same work for unknown names
            return None
        return Session(name, secrets.token_urlsafe(16)) if check_password(password, stored) \
            else None

    def new_session(self, ta: str) -> Session:
        return Session(ta, secrets.token_urlsafe(16))

    def cookie(self, session: Session) -> str:
        payload = _b64(json.dumps({"ta": session.ta, "nonce": session.nonce,
                                   "until": int(time.time()) + SESSION_SECONDS}).encode())
        return f"{payload}.{self._sign(payload)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie proves, or None (forged, expired, or a TA no longer listed)."""
        if not cookie or "." not in cookie:
            return None
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
            ta, nonce, until = str(data["ta"]), str(data["nonce"]), int(data["until"])
        except (ValueError, KeyError, TypeError):
            return None
        if until < time.time() or (self.token is None and ta not in self.logins):
            return None
        return Session(ta, nonce)

    def csrf(self, session: Session) -> str:
        return self._sign(f"csrf:{session.nonce}")

    def csrf_matches(self, session: Session, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(offered.encode(),
                                                     self.csrf(session).encode())

    def student_token(self, student: str) -> str:
        """An opaque, per-start name of a student for URLs (and for anonymous mode)."""
        return hmac.new(self.secret, f"student:{student}".encode(),
                        hashlib.sha256).hexdigest()[:16]  # fmt: skip
