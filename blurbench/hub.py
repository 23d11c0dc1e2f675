"""Hugging Face Hub access shared by the zoo (model repos) and the leaderboards (dataset repos).

Endpoint, offline mode and cache are read from the environment at each call (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``,
``HF_HUB_CACHE``; huggingface_hub reads them once at import). :func:`upload` creates a repo and commits files to it;
:func:`download` fetches one file through huggingface_hub's cache. Both turn the Hub's failures (no token, endpoint
unreachable, repo or file not found) into one-line :class:`~blurbench.errors.BlurbenchError` s. No torch import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from blurbench.errors import ConfigError, DataError

HUB_PREFIX = "hf-hub:"
_DEFAULT_ENDPOINT = "https://huggingface.co"


def _true(value: str | None) -> bool:
    return (value or "").upper() in {"1", "ON", "YES", "TRUE"}


def hub_endpoint() -> str:
    """``HF_ENDPOINT`` read now (huggingface_hub reads it once at import; we pass it explicitly each call)."""
    from huggingface_hub import constants  # deferred: huggingface_hub (listings and local models need no Hub client)

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT or _DEFAULT_ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    from huggingface_hub import constants  # deferred: huggingface_hub

    return constants.HF_HUB_OFFLINE or _true(os.environ.get("HF_HUB_OFFLINE"))


def hub_cache_dir() -> Path:
    from huggingface_hub import constants  # deferred: huggingface_hub

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE).expanduser()


def parse_hub_source(source: str) -> tuple[str, str | None]:
    """``hf-hub:ORG/NAME[@REV]`` (or ``ORG/NAME[@REV]``) -> (``ORG/NAME``, revision or None)."""
    repo = source[len(HUB_PREFIX):] if source.startswith(HUB_PREFIX) else source
    repo_id, _, rev = repo.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"'{source}' is not a Hub repo",
                          f"write it as {HUB_PREFIX}ORG/NAME or {HUB_PREFIX}ORG/NAME@REV")
    return repo_id, rev or None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The connection errors of huggingface_hub's HTTP client (httpx2 in huggingface_hub 2.x, requests before)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests", "ConnectionError"), ("requests", "Timeout")):
        try:
            found.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def upload(repo_id: str, files: Mapping[str, Path | bytes], *, repo_type: str = "model", private: bool | None = None,
           token: str | None = None, commit_message: str = "blurbench upload") -> str:
    """Create ``repo_id`` (if new) and commit ``files`` (path in repo -> local file or bytes) in one commit; returns
    the commit URL. Refuses, in one line, without a token, when the endpoint is unreachable or the Hub says no."""
    # deferred: huggingface_hub (listings and local models need no Hub client)
    from huggingface_hub import CommitOperationAdd, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    if hub_offline():
        raise ConfigError(f"cannot upload to {repo_id}: HF_HUB_OFFLINE is set", "unset HF_HUB_OFFLINE to upload")
    token = token or get_token()
    if not token:
        raise ConfigError(f"cannot upload to {repo_id}: no Hugging Face token",
                          "set HF_TOKEN, run `hf auth login`, or pass --token")
    endpoint = hub_endpoint()
    api = HfApi(endpoint=endpoint, token=token)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(data) if isinstance(data, Path) else data)
                  for name, data in files.items()]
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.create_commit(repo_id, operations, repo_type=repo_type, commit_message=commit_message)
    except _transport_errors() as err:
        raise DataError(f"the Hub ({endpoint}) is unreachable: {str(err).splitlines()[0] if str(err) else err!r}",
                        "check the network and HF_ENDPOINT, then run the same command again") from None
    except HfHubHTTPError as err:
        raise DataError(f"{repo_id}: the Hub ({endpoint}) refused the upload: {str(err).splitlines()[0]}",
                        "check the repo id and that your token may write to it (`hf auth whoami`)") from None
    return str(getattr(info, "commit_url", info))


def download(repo_id: str, filename: str, *, repo_type: str = "model", revision: str | None = None,
             optional: bool = False) -> Path | None:
    """One file of a Hub repo through the Hub cache (works offline when the cache is warm). The snapshot folder it
    lands in is named after the commit. ``optional``: None when the repo has no such file."""
    # deferred: huggingface_hub (listings and local models need no Hub client)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    where = f"{repo_id}@{revision or 'main'}"
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision,
                                    endpoint=hub_endpoint(), cache_dir=hub_cache_dir(), local_files_only=offline))
    except LocalEntryNotFoundError:  # first: it is an EntryNotFoundError too
        if optional and offline:
            return None  # offline, a file the cache does not hold may as well be absent
        reason = "HF_HUB_OFFLINE is set" if offline else f"the Hub ({hub_endpoint()}) is unreachable"
        raise DataError(f"{where}: {filename} is not in the Hub cache {hub_cache_dir()} and {reason}",
                        "run once with network access, or download the repo and pass its folder") from None
    except RemoteEntryNotFoundError:
        if optional:
            return None
        raise DataError(f"{where}: no {filename} in this {repo_type} repo", "check the repo id and revision") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise DataError(f"{where}: {str(err).splitlines()[0]}",
                        f"check the {repo_type} repo id and revision (private repos need `hf auth login` or HF_TOKEN)"
                        ) from None
