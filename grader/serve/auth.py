"""Who may see what: per-student and teacher tokens, sign-in links, CSRF tokens.

Tokens are random (secrets.token_urlsafe); the database keeps only their SHA-256, and a
presented token is compared with hmac.compare_digest (constant time). A student's token
opens only that student's pages; the teacher's token opens the class pages.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from urllib.parse import quote
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import sqlalchemy as sa

from grader.errors import UsageError
from grader.messages import t

from grader.serve.db import settings, students

DEMO_ROSTER = "id,name\nalice,Alice\nbob,Bob\ncarol,Carol\n"
TEACHER = "teacher"  # the settings key of the teacher's token hash


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def same(token: Optional[str], stored_hash: Optional[str]) -> bool:
    """Constant-time: the presented token's hash against the stored one."""
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(digest(token), stored_hash)


def setting(engine: sa.Engine, key: str, make) -> str:
    """A stored setting, created with make() the first time (the seed, the CSRF secret)."""
    with engine.begin() as conn:
        value = conn.scalar(sa.select(settings.c.value).where(settings.c.key == key))
        if value is None:
            value = str(make())
            conn.execute(settings.insert().values(key=key, value=value))
        return value


def csrf_token(secret: str, who: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{who}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, who: str, presented: Optional[str]) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret, who), presented)


@dataclass(frozen=True)
class Issued:
    id: str
    name: str
    token: str


def read_roster(text: str, lang: str = "en") -> list[tuple[str, str]]:
    """(id, name) rows of a roster CSV: a column `id` (or `student`), optionally `name`."""
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    out = []
    for row in rows:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        sid = row.get("id") or row.get("student") or ""
        if sid and (not sid.isprintable() or "/" in sid or "\\" in sid):
            raise UsageError(t(lang, "serve.bad_roster_id", id=sid.encode("unicode_escape").decode()))
        if sid:
            out.append((sid[:128], (row.get("name") or sid)[:256]))
    return out


def issue(engine: sa.Engine, roster: list[tuple[str, str]]) -> list[Issued]:
    """Tokens for the roster's students who have none yet (existing tokens stay valid)."""
    issued = []
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(students.c.id)).scalars())
        for sid, name in roster:
            if sid in known:
                continue
            token = secrets.token_urlsafe(24)
            conn.execute(students.insert().values(id=sid, name=name, token_hash=digest(token)))
            known.add(sid)
            issued.append(Issued(sid, name, token))
    return issued


def reissue(engine: sa.Engine, ids: list[str], lang: str = "en") -> list[Issued]:
    """New tokens for these students (a lost or leaked link): their old links stop working."""
    issued = []
    with engine.begin() as conn:
        for sid in ids:
            name = conn.scalar(sa.select(students.c.name).where(students.c.id == sid))
            if name is None:
                raise UsageError(t(lang, "serve.unknown_student", id=sid))
            token = secrets.token_urlsafe(24)
            conn.execute(students.update().where(students.c.id == sid).values(token_hash=digest(token)))
            issued.append(Issued(sid, name, token))
    return issued


def teacher_token(engine: sa.Engine, rotate: bool = False) -> Optional[str]:
    """A new teacher token when there is none (or `rotate`); None when one exists already."""
    with engine.begin() as conn:
        stored = conn.scalar(sa.select(settings.c.value).where(settings.c.key == TEACHER))
        if stored is not None and not rotate:
            return None
        token = secrets.token_urlsafe(24)
        conn.execute(settings.delete().where(settings.c.key == TEACHER))
        conn.execute(settings.insert().values(key=TEACHER, value=digest(token)))
        return token


def student_hash(engine: sa.Engine, sid: str) -> Optional[str]:
    with engine.connect() as conn:
        return conn.scalar(sa.select(students.c.token_hash).where(students.c.id == sid))


def teacher_hash(engine: sa.Engine) -> Optional[str]:
    with engine.connect() as conn:
        return conn.scalar(sa.select(settings.c.value).where(settings.c.key == TEACHER))


def write_links(path: Path, base_url: str, issued: list[Issued], teacher: Optional[str]) -> None:
    """The sign-in links, for the teacher to hand out (readable by the owner only)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "name", "token", "link"])
    if teacher:
        w.writerow(["(teacher)", "", teacher, f"{base_url}/teacher?token={teacher}"])
    for i in issued:
        w.writerow([i.id, i.name, i.token, f"{base_url}/s/{quote(i.id, safe='')}?token={i.token}"])
    path.write_text(buf.getvalue(), encoding="utf-8")
    path.chmod(0o600)
