"""The secret-bearing files the README tells users to create, by their exact names, read from the README itself.

`cloudgate hash-password ... > FILE` (docs users), `--keystore file://$PWD/FILE` and `--keys-file FILE` (API key
hashes), `accounts key ... --out FILE` (a private key). The ignore files must cover each wherever in the folder
it is written: the tests plant them at the top, in app/ and deeper.
"""

from __future__ import annotations

import re

from tests.support import ROOT

_WRITTEN = re.compile(
    r"(?:hash-password [^\n>]*> |--keystore file://\$PWD/|--keys-file |--docs-users-file |accounts key \S+ --out )"
    r"([A-Za-z0-9_.-]+)"
)
#: Where in a checkout the tests plant them ("" is the top, the folder `gcloud builds submit` uploads).
FOLDERS = ("", "app/", "app/nested/")


def readme_secret_files() -> set[str]:
    """The file names, e.g. {"docs-users.txt", "keys.json", "etl-job-key.json"}."""
    text = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    return set(_WRITTEN.findall(text))


def planted_paths() -> list[str]:
    return [f"{folder}{name}" for name in sorted(readme_secret_files()) for folder in FOLDERS]
