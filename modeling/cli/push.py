"""Push a built dataset folder or a model folder to a Hugging Face hub repository.

    glacier-facies push FOLDER REPO_ID [--private] [--revision BRANCH] [--dry-run]

The folder is validated first, without changing it: a dataset's shards match manifest.json and the manifest lists
every row statistics.json counts; the card a push would publish is rendered in memory, its YAML checked and both
configs streamed with load_dataset through it; no file names a local path; a model loads with from_pretrained and
holds no pickles. --dry-run stops there (nothing written, no network) and lists what would be uploaded and whether
README.md would be re-rendered. A push writes that card, uploads the folder and deletes the repository's files
under data/ that the folder no longer has (shards of an earlier build or prune). The token comes from HF_TOKEN or
the cached login and is never printed.
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
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and list the upload; nothing written, no network"
    )


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
