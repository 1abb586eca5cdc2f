"""`push_release` against a loopback stand-in for the Hub (tests/support/fake_hub.py): every file
arrives with its sha256, the commit is tagged v<N>, a second push sends nothing, and token
problems are one line that never holds the token."""

import hashlib
import json

import pytest

from schemas.errors import UserError
from schemas.publish import PublishSettings
from tasks.publish.hub import push_release, token_from_env
from tasks.publish.stage import run_publish
from tests.support.fake_hub import FakeHub
from tests.tasks.test_publish import build_warehouse
from warehouse.releases import MANIFEST, REPORT, version_dir

TOKEN = "hf_canary_0123456789"


@pytest.fixture
def hub(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the stand-in speaks LFS, not Xet
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs offline; the stand-in is loopback
    fake = FakeHub(token=TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def release(lake):
    build_warehouse(lake)
    run_publish(lake, "mix", PublishSettings(license="mit", shard_rows=7), run_id="publish-test")
    return version_dir(lake.home, "mix", 1)


def test_every_file_arrives_with_its_sha256_and_the_commit_is_tagged(hub, release):
    report = push_release(release, "org/mix", token=TOKEN, private=True, endpoint=hub.url)
    manifest = json.loads((release / MANIFEST).read_text())
    repo = hub.repos["org/mix"]
    expected = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert len([p for p in expected if p.startswith("data/")]) == 3
    assert {p: hashlib.sha256(repo.files[p]).hexdigest() for p in expected} == expected
    for extra in (MANIFEST, REPORT):
        assert repo.files[extra] == (release / extra).read_bytes()
    assert set(repo.files) == set(expected) | {MANIFEST, REPORT}
    assert repo.private and repo.tags == {"v1": report.commit} and repo.commits == [report.commit]
    assert report.tag == "v1" and sorted(report.uploaded) == sorted(repo.files) and report.unchanged == []
    assert {k for k, _, _ in hub.received} == {"lfs", "regular"}  # shards by LFS, card/manifest/report inline


def test_a_second_push_of_the_same_release_uploads_nothing(hub, release):
    first = push_release(release, "org/mix", token=TOKEN, endpoint=hub.url)
    received, commits = list(hub.received), list(hub.repos["org/mix"].commits)
    again = push_release(release, "org/mix", token=TOKEN, endpoint=hub.url)
    assert hub.received == received and hub.repos["org/mix"].commits == commits
    assert again.uploaded == [] and sorted(again.unchanged) == sorted(first.uploaded)
    assert again.commit == first.commit and hub.repos["org/mix"].tags == {"v1": first.commit}


def test_a_wrong_token_is_one_line_without_the_token(hub, release):
    with pytest.raises(UserError) as caught:
        push_release(release, "org/mix", token="hf_wrong_secret_42", endpoint=hub.url)
    message = str(caught.value)
    assert "\n" not in message and "401" in message and "hf_wrong_secret_42" not in message
    assert message.startswith("push to org/mix failed")


def test_no_token_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(UserError, match="^no Hugging Face token: set HF_TOKEN"):
        token_from_env()
    monkeypatch.setenv("HF_TOKEN", " tok ")
    assert token_from_env() == "tok"


@pytest.mark.parametrize("repo", ["mix", "org/", "/mix", "a/b/c"])
def test_a_bad_repo_is_refused_before_any_request(hub, release, repo):
    with pytest.raises(UserError, match="bad --repo"):
        push_release(release, repo, token=TOKEN, endpoint=hub.url)
    assert hub.requests == []
