"""The secret-bearing files the README tells users to write stay out of git, the image and the upload.

The image (.dockerignore) and the `gcloud builds submit` upload (.gcloudignore) are checked with the real tools
on a context holding these files (tests/container/images.py DECOYS, tests/e2e/test_gcloudignore.py); git here.
"""

from __future__ import annotations

import subprocess

from tests.readme_secrets import planted_paths, readme_secret_files
from tests.support import ROOT


def test_the_readme_names_a_docs_users_file_a_keys_file_and_a_key_file() -> None:
    names = readme_secret_files()
    assert "docs-users.txt" in names and "keys.json" in names
    assert any(name.endswith("-key.json") for name in names)


def test_git_ignores_each_of_them_wherever_it_is_written() -> None:
    paths = planted_paths()
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT, input="\n".join(paths), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sorted(checked.stdout.split()) == sorted(paths)


def test_the_image_and_upload_decoys_include_each_of_them() -> None:
    from tests.container.images import DECOYS

    assert set(planted_paths()) <= set(DECOYS)
