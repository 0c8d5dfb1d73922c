"""`gantry-runner`: serve an app (`serve module:attr` or `serve path/to/file.py:attr`) or print its declarations."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .app import App, setup_logging


def load_app(target: str) -> App:
    """`package.module:attr`, `path/to/file.py:attr` or either without `:attr` (then `app`)."""
    spec, _, attr = target.partition(":")
    attr = attr or "app"
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec).resolve()
        if not path.is_file():
            raise SystemExit(f"gantry-runner: no such file: {spec}")
        sys.path.insert(0, str(path.parent))
        name = path.stem
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(spec)
    app = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise SystemExit(f"gantry-runner: {spec} has no attribute {attr!r}") from None
    if not isinstance(app, App):
        raise SystemExit(f"gantry-runner: {target} is a {type(app).__name__}, not a gantry_runner.App")
    return app


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="gantry-runner", description="Serve Python functions for a Gantry host.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="register the app's functions and serve them until SIGTERM/SIGINT")
    serve.add_argument("app", help="module:attr or path/to/file.py:attr (attr defaults to app)")
    serve.add_argument("--url", help="the host's URL (default: $GANTRY_URL)")
    serve.add_argument("--token", help="runner token ID:SECRET (default: $GANTRY_RUNNER_TOKEN)")
    serve.add_argument("--instance", help="instance id (default: hostname-pid-random)")
    serve.add_argument("--concurrency-scale", type=float, default=1.0,
                       help="multiply every function's concurrency by this factor (default 1)")
    serve.add_argument("--grace-seconds", type=float, default=None,
                       help="on SIGTERM, how long in-flight work may finish before it is released (default 30)")
    serve.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ERROR")

    schema = commands.add_parser("schema", help="print the register payload's function declarations as JSON")
    schema.add_argument("app")
    schema.add_argument("--concurrency-scale", type=float, default=1.0)

    args = parser.parse_args(argv)
    app = load_app(args.app)
    if args.command == "schema":
        print(json.dumps(app.declarations(args.concurrency_scale), indent=2))
        return 0
    if args.concurrency_scale <= 0:
        parser.error("--concurrency-scale must be positive")
    from .runner import serve as run

    setup_logging(args.log_level)
    return run(app, url=args.url, token=args.token, concurrency_scale=args.concurrency_scale,
               grace_seconds=args.grace_seconds, instance=args.instance)
