"""The static token file (``--token-auth-file``): a CSV of ``token,user,uid,"group1,group2"``.

As upstream's ``tokenfile``: at least three columns (token, user name, uid),
an optional fourth of comma-separated groups; a line with an empty token is
skipped with a warning, a later duplicate of a token wins (warned). The file is
read once, at start.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path

from pinnace.apiserver.authn.tokens import TokenResult, agnostic_audiences
from pinnace.apiserver.user import UserInfo

__all__ = ["StaticTokenAuthenticator", "parse_token_file"]

log = logging.getLogger(__name__)


def parse_token_file(text: str, source: str = "token file") -> dict[str, UserInfo]:
    """Token → user for each record of a token file's text; ValueError for a record of fewer than 3 columns."""
    tokens: dict[str, UserInfo] = {}
    for line, record in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1):
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) < 3:
            raise ValueError(
                f"token file '{source}' must have at least 3 columns (token, user name, user uid), found {len(record)}"
            )
        token = record[0].strip()
        if not token:
            log.warning("empty token in %s, line %d: skipped", source, line)
            continue
        if token in tokens:
            log.warning("duplicate token in %s, line %d: this line's user wins", source, line)
        groups = tuple(g.strip() for g in record[3].split(",") if g.strip()) if len(record) > 3 else ()
        tokens[token] = UserInfo(record[1].strip(), uid=record[2].strip(), groups=groups)
    return tokens


class StaticTokenAuthenticator:
    """Bearer tokens listed in a file."""

    def __init__(self, tokens: dict[str, UserInfo], api_audiences: Sequence[str]) -> None:
        self.tokens = tokens
        self.api_audiences = tuple(api_audiences)

    @classmethod
    def from_file(cls, path: Path, api_audiences: Sequence[str]) -> StaticTokenAuthenticator:
        """Read ``path`` (ValueError on a malformed file)."""
        return cls(parse_token_file(path.read_text(), str(path)), api_audiences)

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        """The token's user, if the file lists it (and the audiences include the API server's)."""
        user = self.tokens.get(token)
        if user is None:
            return None
        matched = agnostic_audiences(self.api_audiences, audiences)
        return TokenResult(user, matched) if matched is not None else None
