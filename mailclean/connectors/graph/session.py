"""The Graph session: sign-in, the HTTP client, connect and close, the well-known folders."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from mailclean.connectors.base import (
    ConnectionFailed,
    Connector,
    ConnectorError,
    MailboxNotFound,
)
from mailclean.connectors.graph.auth import BearerAuth, MsalAuth, make_auth
from mailclean.connectors.graph.errors import ErrorMapper, GraphError
from mailclean.connectors.graph.http import GraphHttp, SubRequest
from mailclean.connectors.graph.settings import GraphSettings, url_problem
from mailclean.i18n import _

#: Well-known folder names whose id gives a role (names vary with the mailbox's language).
ROLE_FOLDERS = {
    "inbox": "inbox",
    "sentitems": "sent",
    "drafts": "drafts",
    "deleteditems": "trash",
    "junkemail": "junk",
    "archive": "archive",
}
#: The parent of the top-level folders ("Top of Information Store").
ROOT = "msgfolderroot"


def url_problems(settings: GraphSettings) -> list[str]:
    """What is wrong with the settings' URLs, in words (never the URL: it may hold a login)."""
    out = []
    for key, value in (("graph_url", settings.graph_url), ("authority_url",
                                                           settings.authority_url)):
        problem = url_problem(value)
        if problem == "http":
            out.append(_("{key} must use https:// (plain http:// is only allowed to this "
                         "machine, for tests)").format(key=key))
        elif problem == "login":
            out.append(_("{key} must not hold a login or password").format(key=key))
        elif problem:
            out.append(_("{key} must be an https:// URL").format(key=key))
    return out


def segment(item_id: str) -> str:
    """An id as one URL path segment."""
    return quote(item_id, safe="=-_.~")


class _GraphSession(Connector):
    """The connection to one mailbox: sign-in, HTTP client, connect and close, and the ids
    of its well-known folders."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        load_token: Callable[[], dict | None] = lambda: None,
        save_token: Callable[[dict], None] = lambda token: None,
        on_device_code: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.load_token = load_token
        self.save_token = save_token
        """Called with ``{"msal_cache": ...}`` whenever MSAL's token cache changed."""
        self.on_device_code = on_device_code
        """Called with the sign-in instructions when a device-code sign-in is needed; None
        in commands that must not prompt (they raise AuthenticationError instead)."""
        self.http: GraphHttp | None = None
        self._auth: BearerAuth | MsalAuth | None = None
        self._root_id: str | None = None
        self._roles: dict[str, str] = {}
        self._folders: dict[str, dict] = {}
        self._paths: dict[str, str] = {}
        """Folder id -> path, as last listed."""

    @property
    def mailbox(self) -> str:
        """The mailbox's path under the Graph root (``/users/{email}``)."""
        return self.settings.mailbox

    def connect(self) -> None:
        """Sign in (from the token cache when it can) and read the ids of the well-known
        folders: one ``$batch``, which also proves that the mailbox can be opened."""
        self.close()
        problems = url_problems(self.settings)
        if problems:
            raise ConnectorError("; ".join(problems))
        with self._errors(connecting=True):
            auth = make_auth(self.settings, load=self.load_token, save=self.save_token,
                             on_device_code=self.on_device_code)
            self._auth = auth
            self.http = GraphHttp(self.settings, auth)
            auth.token()  # a refused sign-in is told as such, before any Graph request
            self._read_roles()

    def _read_roles(self) -> None:
        names = [ROOT, *ROLE_FOLDERS]
        answers = self._http.batch(
            [SubRequest("GET", f"{self.mailbox}/mailFolders/{n}?$select=id") for n in names]
        )
        self._roles, self._root_id, self._folders = {}, None, {}
        for name, answer in zip(names, answers, strict=True):
            if name != ROOT and 400 <= answer.status < 500 and answer.status not in (401, 403):
                continue  # no such folder in this mailbox (an archive, often)
            if answer.status == 404:
                raise MailboxNotFound(_(
                    "{where} has no mailbox {email} (or it is not in Exchange Online)"
                ).format(where=self.settings.where, email=self.settings.email))
            if answer.status >= 400:
                raise answer.error()
            folder_id = answer.body.get("id") if isinstance(answer.body, dict) else None
            if not isinstance(folder_id, str):
                raise GraphError(502, "no folder id")
            if name == ROOT:
                self._root_id = folder_id
            else:
                self._roles[folder_id] = ROLE_FOLDERS[name]

    def close(self) -> None:
        """Close the HTTP client; never raises."""
        http, self.http = self.http, None
        if http is not None:
            http.close()

    @property
    def read_timeout(self) -> float:
        """Seconds one request may wait: the settings' timeout."""
        return self.settings.timeout

    def abort(self) -> None:
        """Stop, from another thread, a sign-in being waited for or a request in flight:
        it returns soon with ConnectionFailed."""
        if self._auth is not None:
            self._auth.abort()
        http = self.http
        if http is not None:
            http.abort()

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent since the last connect (a ``$batch`` counts one)."""
        return self.http.sent if self.http is not None else 0

    @property
    def _http(self) -> GraphHttp:
        if self.http is None:
            raise ConnectionFailed(_("not connected"))
        return self.http

    def _errors(self, *, connecting: bool = False) -> ErrorMapper:
        return ErrorMapper(self.settings, connecting)
