"""The ``jupyter-dsp`` command line (also ``jupyter dsp`` and ``python -m jupyter_dsp``).

jupyter-dsp stack serve --data-dir DIR [--host H] [--port N] [--single-user]
                        [--default-namespace NS] [--workers N] [--env-cache-size SIZE]
                        [--no-step-cache] [--python-in-containers] [--import-root DIR ...]
                        [--bwrap PATH]
jupyter-dsp stack cache clear --data-dir DIR [--environments]
jupyter-dsp stack token create --data-dir DIR --subject NAME [--namespace NS:view|edit ...]
                               [--shared none|view|edit]
jupyter-dsp stack token list --data-dir DIR [--all] [--json]
jupyter-dsp stack token revoke --data-dir DIR TOKEN_ID
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_NAMESPACE = "default"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter-dsp", description=__doc__.splitlines()[0])
    top = parser.add_subparsers(dest="command", required=True)
    stack = top.add_parser("stack", help="the embedded KFP-compatible stack")
    sub = stack.add_subparsers(dest="stack_command", required=True)

    serve = sub.add_parser("serve", help="run the stack until stopped (SIGTERM / Ctrl-C)")
    serve.add_argument("--data-dir", required=True, type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 = any free port")
    serve.add_argument("--single-user", action="store_true", help="ignore namespaces")
    serve.add_argument("--default-namespace", default=DEFAULT_NAMESPACE)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker threads; also how many runs execute at once (default: the CPU count)",
    )
    serve.add_argument(
        "--env-cache-size",
        default="5G",
        help="bound of the steps' package environments, least recently used evicted (5G)",
    )
    serve.add_argument(
        "--no-step-cache", action="store_true", help="never serve a step from the step cache"
    )
    serve.add_argument(
        "--python-in-containers",
        action="store_true",
        help="run Python components in a container engine too (default: as subprocesses)",
    )
    serve.add_argument(
        "--import-root",
        action="append",
        default=None,
        metavar="DIR",
        help="a directory local-path importers may read (repeat for more; an empty value for "
        "none). Default: none on a multi-user stack, the working directory on a single-user "
        "one. The data dir and service-account token directories are never readable.",
    )
    serve.add_argument(
        "--bwrap",
        default="bwrap",
        help="the bubblewrap program that sandboxes steps when the stack runs as root (bwrap)",
    )

    cache = sub.add_parser("cache", help="the step cache and the steps' environments")
    csub = cache.add_subparsers(dest="cache_command", required=True)
    clear = csub.add_parser("clear", help="forget cached step results")
    clear.add_argument("--data-dir", required=True, type=Path)
    clear.add_argument(
        "--environments", action="store_true", help="remove unused package environments too"
    )

    token = sub.add_parser("token", help="manage bearer tokens")
    tsub = token.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="create a token and print it")
    create.add_argument("--data-dir", required=True, type=Path)
    create.add_argument("--subject", required=True)
    create.add_argument(
        "--namespace", action="append", default=[], metavar="NS:ROLE", help="NS:view or NS:edit"
    )
    create.add_argument("--shared", choices=("none", "view", "edit"), default="none")
    listing = tsub.add_parser("list", help="list tokens (ids and roles, and the default token)")
    listing.add_argument("--data-dir", required=True, type=Path)
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.add_argument("--json", action="store_true")
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("--data-dir", required=True, type=Path)
    revoke.add_argument("token_id")
    return parser


def _roles(specs: list[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for spec in specs:
        namespace, sep, role = spec.rpartition(":")
        if not sep or not namespace or role not in ("view", "edit"):
            raise SystemExit(f"jupyter-dsp: --namespace {spec!r}: expected NS:view or NS:edit")
        roles[namespace] = role
    return roles


def _token_command(args: argparse.Namespace) -> int:
    from jupyter_dsp.stack.auth import TokenStore
    from jupyter_dsp.stack.context import (
        DB_FILE,
        TOKEN_FILE,
        ensure_default_token,
        prepare_data_dir,
    )
    from jupyter_dsp.stack.db import Database
    from jupyter_dsp.stack.errors import ApiError

    data_dir = prepare_data_dir(args.data_dir)
    db = Database(data_dir / DB_FILE)
    try:
        tokens = TokenStore(db.conn)
        if args.token_command == "create":
            token, _ = tokens.create(args.subject, _roles(args.namespace), args.shared)
            print(token)
            return 0
        if args.token_command == "revoke":
            tokens.revoke(args.token_id)
            print(f"revoked {args.token_id}", file=sys.stderr)
            return 0
        default_path = data_dir / TOKEN_FILE
        if not default_path.exists():
            ensure_default_token(tokens, data_dir, DEFAULT_NAMESPACE)
        infos = tokens.list(include_revoked=args.all)
        default_token = default_path.read_text().strip()
        if args.json:
            print(json.dumps([i.to_json() for i in infos], indent=2))
        else:
            for info in infos:
                roles = ",".join(f"{ns}:{r}" for ns, r in sorted(info.namespaces.items())) or "-"
                state = " revoked" if info.revoked else ""
                mark = " (default)" if info.is_default else ""
                print(
                    f"{info.token_id}\t{info.subject}{mark}\t{roles}\tshared:{info.shared}{state}"
                )
            print(f"default token (in {default_path}): {default_token}")
        return 0
    except ApiError as exc:
        print(f"jupyter-dsp: {exc.message}", file=sys.stderr)
        return 1
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "stack" and args.stack_command == "serve":
        from jupyter_dsp.stack.context import StackConfig
        from jupyter_dsp.stack.runner.sandbox import SandboxUnavailable
        from jupyter_dsp.stack.runner.step_settings import StepSettings, parse_size
        from jupyter_dsp.stack.server import StackBusy, serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        try:
            env_cache_bytes = parse_size(args.env_cache_size)
        except ValueError as exc:
            print(f"jupyter-dsp: --env-cache-size: {exc}", file=sys.stderr)
            return 2
        config = StackConfig(
            args.data_dir,
            args.host,
            args.port,
            args.single_user,
            args.default_namespace,
            args.workers,
            StepSettings(
                env_cache_bytes,
                not args.no_step_cache,
                args.python_in_containers,
                None if args.import_root is None else tuple(r for r in args.import_root if r),
                args.bwrap,
            ),
        )
        try:
            serve(config)
        except SandboxUnavailable as exc:
            print(str(exc), file=sys.stderr)
            return 1
        except (StackBusy, OSError) as exc:
            print(f"jupyter-dsp: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "stack" and args.stack_command == "token":
        return _token_command(args)
    if args.command == "stack" and args.stack_command == "cache":
        from jupyter_dsp.stack.runner.step_settings import clear_stack_caches

        steps, envs = clear_stack_caches(args.data_dir.expanduser(), args.environments)
        print(f"cleared {steps} cached step result(s)", end="")
        print(f" and {envs} environment(s)" if args.environments else "")
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
