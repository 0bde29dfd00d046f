"""Token authentication to a Ray cluster (``RAY_AUTH_MODE=token``): where the driver's token comes from and how it
is sent, so that an authenticated cluster accepts our jobs and the token is never written anywhere.

The driver's token, first found wins: the file named by ``cluster.auth_token_file`` (a recipe names a file, it
never holds the token), then Ray's own places, read by Ray's own token loader in Ray's order: ``RAY_AUTH_TOKEN``,
the file ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``. It travels only in the ``Authorization`` header of the
Jobs API client (submit, logs, status, stop, list); no job's entrypoint, metadata or runtime_env carries it.
Code running inside a job (a stage's own ``ray.init()``: EasyR1, ``launch.executors.multinode``) authenticates with the
token of the node it runs on: Ray's workers inherit ``RAY_AUTH_MODE`` / ``RAY_AUTH_TOKEN_PATH`` /
``RAY_AUTH_TOKEN`` from ``ray start``, so a node started with token authentication passes it on to every job.

A dashboard URL (``http://head:8265``) is all the driver needs. A GCS address (``auto``, ``<ip>:6379``) is first
looked up over Ray's gRPC, which authenticates only with Ray's process-wide settings (``RAY_AUTH_MODE=token`` in
the driver's environment and the token in Ray's places), as for ``ray job submit``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_FILE_KEY = "cluster.auth_token_file"
TOKEN_SOURCES = (f"{TOKEN_FILE_KEY}=<file holding the token>, or RAY_AUTH_TOKEN_PATH=<file>, or RAY_AUTH_TOKEN, "
                 "or Ray's default file ~/.ray/auth_token (`ray get-auth-token` on the head node prints the token)")


def write_run_token(folder: str | Path) -> Path:
    """A fresh token for one run's own head in ``folder/auth_token``, readable by this user only.

    256 random bits as hex, what ``ray get-auth-token --generate`` makes. ``folder`` must not exist: it is made
    with mode 0700 and the file with mode 0600 (created so, not restricted afterwards), so no other user can ever
    read the token, nor have planted the file or a link in its place.
    """
    Path(folder).mkdir(mode=0o700)
    path = Path(folder) / "auth_token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path


def auth_headers(token_file: str | Path | None) -> dict[str, str]:
    """The ``Authorization`` header for the Jobs API, or ``{}`` when no token is found anywhere.

    ``token_file`` (``cluster.auth_token_file``) wins; otherwise Ray's loader looks in Ray's places. Surrounding
    whitespace is dropped, as Ray's loader does. An error never shows the token nor the key's value (a user who
    put the token itself into the key would otherwise see it printed).
    """
    from ray.exceptions import AuthenticationError

    if token_file:
        try:
            token = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{TOKEN_FILE_KEY} names no readable file ({type(err).__name__}); it must be the path "
                             "of a file holding the cluster's token, never the token itself") from None
        if not token:
            raise ValueError(f"{TOKEN_FILE_KEY}={token_file} is empty; put the cluster's token in it "
                             "(`ray get-auth-token` on the head node prints it)")
        return {"authorization": f"Bearer {token}"}
    from ray._raylet import AuthenticationTokenLoader

    loader = AuthenticationTokenLoader.instance()
    loader.reset_cache()  # read the environment and files as they are now, not as when Ray first looked
    try:
        return dict(loader.get_token_for_http_header(ignore_auth_mode=True))
    except AuthenticationError as err:
        raise ValueError(f"{err.message}; point RAY_AUTH_TOKEN_PATH at the file holding the cluster's token "
                         f"or unset it (token sources: {TOKEN_SOURCES})") from None


def token_source(token_file: str | Path | None) -> str:
    """Where :func:`auth_headers` took the token from, in words for an error message (Ray's order)."""
    if token_file:
        return f"{TOKEN_FILE_KEY}={token_file}"
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"RAY_AUTH_TOKEN_PATH={os.environ['RAY_AUTH_TOKEN_PATH']}"
    return "~/.ray/auth_token"


def connect(address: str, token_file: str | Path | None = None):
    """A ``JobSubmissionClient`` for the cluster at ``address`` that sends the token (if any) with every request.

    Connecting checks the cluster's version through the Jobs API, so a cluster that wants a token and gets none,
    or a wrong one, fails here, before any stage starts, with a ``ValueError`` naming what to set. A GCS address
    is looked up first on its own, so that a refused lookup is told apart from a refused token.
    """
    from ray.dashboard.utils import get_address_for_submission_client
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    headers = auth_headers(token_file)
    try:
        url = get_address_for_submission_client(address)  # ``RAY_ADDRESS`` wins, as in JobSubmissionClient
    except AuthenticationError as err:
        raise ValueError(
            f"looking up the Ray cluster's dashboard at cluster.address={address} (through its GCS) was refused "
            f"({_first_line(err)}): that lookup authenticates with Ray's own settings only, so set RAY_AUTH_MODE=token "
            "and RAY_AUTH_TOKEN_PATH=<file> (or RAY_AUTH_TOKEN, or ~/.ray/auth_token) in the driver's environment, "
            "or give the dashboard URL, cluster.address=http://<head>:8265") from None
    try:
        return JobSubmissionClient(url, headers=headers)
    except AuthenticationError as err:
        if headers:
            problem = (f"refused the token from {token_source(token_file)} ({_first_line(err)}): it is not this "
                       f"cluster's token. Give the driver the token the cluster was started with: {TOKEN_SOURCES}")
        else:
            problem = (f"requires a token (token authentication) and none was found ({_first_line(err)}). Give the "
                       f"driver the cluster's token: {TOKEN_SOURCES}")
        raise ValueError(f"the Ray cluster at {url} {problem}") from None


def _first_line(err) -> str:
    """Ray's own reason (``Forbidden: Invalid authentication token``), without its generic advice."""
    return err.message.splitlines()[0]
