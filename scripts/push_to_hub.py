#!/usr/bin/env python
"""Push a built dataset folder or a model folder to a Hugging Face hub repository.

    python scripts/push_to_hub.py FOLDER REPO_ID [--private] [--revision BRANCH] [--dry-run]

The card is rendered first and the folder validated (the dataset loads with load_dataset and its
shards match manifest.json; the model loads with from_pretrained; card YAML valid). --dry-run
stops there and lists what would be uploaded. The token comes from HF_TOKEN or the cached login
and is never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modeling.errors import PublishError
from modeling.hub import push_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="built dataset folder or model folder")
    parser.add_argument("repo_id", help="hub repository, e.g. user/glacier-facies")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", help="branch to push to (created when missing)")
    parser.add_argument("--message", help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="validate and list the upload; no network")
    args = parser.parse_args(argv)
    try:
        plan = push_folder(
            args.folder,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            dry_run=args.dry_run,
            commit_message=args.message,
        )
    except PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(plan.format())
    print(("would push to " if args.dry_run else "pushed to ") + f"{args.repo_id} ({plan.kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
