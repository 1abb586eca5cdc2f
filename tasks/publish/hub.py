"""Tasks layer (publish): push a stored release to the Hugging Face Hub, tagged `v<N>`.

One commit of the release's files (shards, card, manifest, report) through huggingface_hub's
`create_commit`, which asks the Hub which files it already holds (`preupload` answers each
file's remote oid): a second push of the same release uploads nothing and makes no commit.
The commit is then tagged `v<N>`. The token comes from the caller (HF_TOKEN, or a secret the
flow resolves); it is never logged, printed or written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from schemas.errors import UserError
from warehouse.releases import CARD, DATA_DIR, MANIFEST, REPORT, read_manifest

TOKEN_ENV = "HF_TOKEN"
REPO_TYPE = "dataset"


@dataclass
class PushReport:
    repo: str
    tag: str
    commit: str
    uploaded: list[str] = field(default_factory=list)  # files whose bytes the Hub did not have
    unchanged: list[str] = field(default_factory=list)
    url: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def token_from_env() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UserError(f"no Hugging Face token: set {TOKEN_ENV} (a write token for the repository) and push again")
    return token


def release_files(path: Path) -> list[str]:
    """What a push sends: every file the manifest lists (shards, card), the manifest, the report."""
    listed = [f["path"] for f in read_manifest(path)["files"]]
    extra = [name for name in (MANIFEST, REPORT) if (path / name).is_file()]
    missing = [p for p in listed if not (path / p).is_file()]
    if missing:
        raise UserError(f"{path}: {', '.join(missing)} missing; run `teachable datasets verify` first")
    return sorted(set(listed) | set(extra))


def check_repo(repo: str) -> str:
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise UserError(f"bad --repo {repo!r}: expected ORG/NAME")
    return repo


def _hub_error(exc: Exception, repo: str) -> UserError:
    """One line from a Hub error: its status and server message (never the request headers)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = " (is the token allowed to write there?)" if status in (401, 403) else ""
    return UserError(f"push to {repo} failed: {first}{hint}")


def push_release(path: Path, repo: str, *, token: str, private: bool = False,
                 endpoint: str | None = None) -> PushReport:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    check_repo(repo)
    manifest = read_manifest(path)
    tag = f"v{manifest['version']}"
    api = HfApi(endpoint=endpoint, token=token)
    files = release_files(path)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path / name)) for name in files]
    try:
        api.create_repo(repo, repo_type=REPO_TYPE, private=private, exist_ok=True)
        info = api.create_commit(repo, operations=operations, repo_type=REPO_TYPE,
                                 commit_message=f"{manifest['name']} {tag}",
                                 commit_description=f"teachable release {manifest['name']}@{tag}, "
                                 f"sha256 {manifest['sha256']}")
        api.create_tag(repo, tag=tag, revision=info.oid, repo_type=REPO_TYPE, exist_ok=True,
                       tag_message=f"{manifest['name']} {tag} sha256 {manifest['sha256']}")
    except OfflineModeIsEnabled:
        raise UserError(f"push to {repo}: Hugging Face offline mode is on (unset HF_HUB_OFFLINE)") from None
    except HfHubHTTPError as exc:
        raise _hub_error(exc, repo) from None
    # create_commit compared each file's local oid with the one the Hub reported (preupload):
    # equal means the Hub already had those bytes and nothing was sent.
    unchanged = [op.path_in_repo for op in operations
                 if op._remote_oid is not None and op._remote_oid == op._local_oid]
    uploaded = [name for name in files if name not in unchanged]
    return PushReport(repo, tag, info.oid, uploaded, unchanged, info.commit_url)


__all__ = ["CARD", "DATA_DIR", "PushReport", "push_release", "token_from_env"]
