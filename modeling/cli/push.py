"""Push a built dataset folder or a model folder to a Hugging Face hub repository.

    glacier-facies push FOLDER REPO_ID [--private] [--revision BRANCH] [--dry-run]

The card is rendered first and the folder validated (the dataset loads with load_dataset and its
shards match manifest.json; the model loads with from_pretrained; card YAML valid). --dry-run
stops there and lists what would be uploaded. The token comes from HF_TOKEN or the cached login
and is never printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeling.hub import push_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="built dataset folder or model folder")
    parser.add_argument("repo_id", help="hub repository, e.g. user/glacier-facies")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", help="branch to push to (created when missing)")
    parser.add_argument("--message", help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="validate and list the upload; no network")


def run(args: argparse.Namespace) -> int:
    plan = push_folder(
        args.folder,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        dry_run=args.dry_run,
        commit_message=args.message,
    )
    print(plan.format())
    print(("would push to " if args.dry_run else "pushed to ") + f"{args.repo_id} ({plan.kind})")
    return 0
