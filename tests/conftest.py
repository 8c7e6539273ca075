"""Make the repo importable as ansible_collections.resource_sharing.aws for every test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "resource_sharing" / "aws"

# The repo is the collection; tests import it by its collection name, as ansible does.
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(os.path.relpath(REPO, LINK.parent))
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

# Nothing in the tests may reach the cloud metadata address.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
