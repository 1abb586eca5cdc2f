"""A loopback stand-in for the Hugging Face Hub endpoints `HfApi.create_repo`, `create_commit`
(validate-yaml, preupload, LFS batch + basic PUT + verify, NDJSON commit), `create_tag` and
`repo_info` call, following the contract huggingface_hub 2.4 enforces
(huggingface_hub/_commit_api.py `_validate_preupload_info`, `_send_commit`, `CommitOperationAdd._local_oid`;
lfs.py `post_lfs_batch_info`, `lfs_upload`, `_validate_batch_actions`; hf_api.py `create_repo`,
`create_tag`, `dataset_info`) and refusing what the Hub refuses: no or wrong bearer token (401),
an LFS object whose bytes do not hash to its oid, a commit naming an LFS file never uploaded,
an existing repo (409) or tag (409). Xet is not spoken: tests set HF_HUB_DISABLE_XET.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".parquet", ".bin", ".safetensors")  # the Hub's default .gitattributes sends these to LFS


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)  # head tree
    lfs: dict[str, bytes] = field(default_factory=dict)  # oid (sha256) -> bytes
    commits: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def head(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


@dataclass
class FakeHub:
    token: str
    repos: dict[str, Repo] = field(default_factory=dict)
    received: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, path or oid, bytes) of uploads
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: dict | None = None) -> None:
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    self._reply(401, {"error": "Invalid credentials in Authorization header"})
                    return False
                return True

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_PUT(self):  # noqa: N802
                self._handle("PUT")

            def _handle(self, method: str) -> None:
                path = unquote(urlparse(self.path).path)
                hub.requests.append((method, path))
                body = self._body()
                # The LFS upload href stands for a presigned storage URL: the client sends no token there.
                if not (method == "PUT" and path.startswith("/lfs-upload/")) and not self._authorized():
                    return
                status, reply = hub.route(method, path, body)
                self._reply(status, reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- routes ---------------------------------------------------------------------------
    def route(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        if method == "POST" and path == "/api/repos/create":
            return self.create_repo(json.loads(body))
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        if method == "PUT" and path.startswith("/lfs-upload/"):
            return self.lfs_put(path.rsplit("/", 3)[-3:], body)
        if method == "POST" and path.startswith("/lfs-verify/"):
            return self.lfs_verify(path.rsplit("/", 3)[-3:], json.loads(body))
        if path.startswith("/datasets/") and path.endswith(".git/info/lfs/objects/batch"):
            return self.lfs_batch(path[len("/datasets/"):-len(".git/info/lfs/objects/batch")], json.loads(body))
        if path.startswith("/api/datasets/"):
            rest = path[len("/api/datasets/"):]
            owner, name, action, *revision = rest.split("/", 3)
            repo = self.repos.get(f"{owner}/{name}")
            if repo is None:
                return 404, {"error": "Repository not found"}
            handler = {("POST", "preupload"): self.preupload, ("POST", "commit"): self.commit,
                       ("POST", "tag"): self.tag, ("GET", "revision"): self.info}.get((method, action))
            if handler:
                return handler(f"{owner}/{name}", repo, body)
        return 404, {"error": f"no route {method} {path}"}

    def create_repo(self, payload: dict) -> tuple[int, dict]:
        if payload.get("type") != "dataset":
            return 400, {"error": "this stand-in serves dataset repos"}
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if repo_id in self.repos:
            return 409, {"error": "You already created this dataset repo", "url": f"{self.url}/datasets/{repo_id}"}
        self.repos[repo_id] = Repo(private=payload.get("visibility") == "private" or bool(payload.get("private")))
        return 200, {"url": f"{self.url}/datasets/{repo_id}", "name": repo_id}

    def preupload(self, repo_id: str, repo: Repo, body: bytes) -> tuple[int, dict]:
        files = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10 * 1024 * 1024
            current = repo.files.get(f["path"])
            oid = None
            if current is not None:  # what `_local_oid` compares with: sha256 for LFS, git sha1 otherwise
                oid = hashlib.sha256(current).hexdigest() if lfs else git_blob_sha1(current)
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        return 200, {"files": files, "commitOid": repo.head}

    def lfs_batch(self, repo_id: str, payload: dict) -> tuple[int, dict]:
        repo = self.repos.get(repo_id)
        if repo is None:
            return 404, {"message": "Repository not found"}
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", []):
            return 422, {"message": "only basic uploads"}
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in repo.lfs:  # present objects come back without actions: nothing to send
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{repo_id}/{obj['oid']}"},
                    "verify": {"href": f"{self.url}/lfs-verify/{repo_id}/{obj['oid']}"},
                }
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def lfs_put(self, parts: list[str], body: bytes) -> tuple[int, dict]:
        owner, name, oid = parts
        if hashlib.sha256(body).hexdigest() != oid:
            return 400, {"message": "sha256 of the body does not match the oid"}
        self.repos[f"{owner}/{name}"].lfs[oid] = body
        self.received.append(("lfs", oid, len(body)))
        return 200, {}

    def lfs_verify(self, parts: list[str], payload: dict) -> tuple[int, dict]:
        owner, name, oid = parts
        stored = self.repos[f"{owner}/{name}"].lfs.get(oid)
        if stored is None or payload.get("oid") != oid or payload.get("size") != len(stored):
            return 404, {"message": "object not found"}
        return 200, {}

    def commit(self, repo_id: str, repo: Repo, body: bytes) -> tuple[int, dict]:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header" or not lines[0]["value"].get("summary"):
            return 400, {"error": "the first line must be the header with a summary"}
        tree = dict(repo.files)
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"].encode()
                tree[value["path"]] = data
                self.received.append(("regular", value["path"], len(data)))
            elif line["key"] == "lfsFile":
                if value.get("algo") != "sha256" or value["oid"] not in repo.lfs:
                    return 422, {"error": f"LFS file {value['path']} was not uploaded"}
                tree[value["path"]] = repo.lfs[value["oid"]]
            else:
                return 400, {"error": f"unsupported operation {line['key']}"}
        digest = hashlib.sha1(repo.head.encode())
        for path in sorted(tree):
            digest.update(path.encode() + b"\0" + hashlib.sha256(tree[path]).digest())
        repo.files = tree
        repo.commits.append(digest.hexdigest())
        return 200, {"commitUrl": f"{self.url}/datasets/{repo_id}/commit/{repo.head}", "commitOid": repo.head,
                     "success": True}

    def tag(self, repo_id: str, repo: Repo, body: bytes) -> tuple[int, dict]:
        payload = json.loads(body)
        if payload["tag"] in repo.tags:
            return 409, {"error": f"Tag {payload['tag']} already exists"}
        repo.tags[payload["tag"]] = repo.head  # the revision in the URL: the commit just made
        return 200, {}

    def info(self, repo_id: str, repo: Repo, body: bytes) -> tuple[int, dict]:
        return 200, {"id": repo_id, "sha": repo.head, "private": repo.private,
                     "siblings": [{"rfilename": p} for p in sorted(repo.files)]}
