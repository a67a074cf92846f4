"""cnn-oracle: check a from-scratch CNN implementation against torch, layer by layer.

    cnn-oracle check [MODULE[:OBJECT]] [--json PATH] [--markdown PATH] [--xfails FILE]
                     [-- extra pytest arguments]
    cnn-oracle check --api {cs231n,deeplearning-ai,nnfs} [--fast] PATH ...

MODULE is a dotted module name or a path to a .py file; without :OBJECT the module
itself is the adapter; without MODULE the reference is checked. Exit codes: 0 nothing
failed ("not provided" checks allowed), 1 a check failed, 2 the adapter cannot be
imported or is not an adapter (or the command line is wrong).
"""

import argparse
import sys
from pathlib import Path

from .contract import DEFAULT_IMPL, AdapterError, load_adapter
from .presets import APIS
from .presets import select as select_preset

EPILOG = """\
An adapter is a module or object with any of the factories conv2d, linear, relu,
maxpool2d, flatten, cross_entropy, adam (see docs/adapter.md), plus `name` and
`dtypes`. Extra pytest arguments go after `--`, e.g. `-- -k MaxPool2d -x`.
Exit codes: 0 nothing failed, 1 a check failed, 2 the adapter cannot be used.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-oracle",
        description="Check a from-scratch CNN implementation against PyTorch, layer by layer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="check")
    check = sub.add_parser(
        "check",
        help="run the conformance suite on an adapter",
        description="Run the conformance suite on an adapter and print a per-layer summary.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "impl", nargs="?", default=None, metavar="MODULE[:OBJECT]",
        help=f"the adapter: a dotted module or a .py file (default: {DEFAULT_IMPL})",
    )  # fmt: skip
    check.add_argument(
        "--api", choices=sorted(APIS),
        help="MODULE is instead your course code, PATH, checked through this API's preset "
        "(oracle_tests/presets/): cs231n's folder, deeplearning.ai's notebook, nnfs's .py",
    )  # fmt: skip
    check.add_argument(
        "--fast", action="store_true", help="with --api cs231n: fast_layers.py's conv and pool"
    )
    check.add_argument("--json", metavar="PATH", help="write the report as JSON")
    check.add_argument("--markdown", metavar="PATH", help="write the report as Markdown")
    check.add_argument(
        "--xfails", metavar="FILE",
        help="expected failures: one check id (or id prefix) a line, with a # reason",
    )  # fmt: skip
    check.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS",
        help="fail a check whose call to the adapter runs longer than this (default 60; 0: none)",
    )  # fmt: skip
    check.add_argument(
        "--require-all", action="store_true",
        help="exit 1 if any check is not provided (for a complete implementation's CI)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return 0 if exit_.code == 0 else 2
    try:
        if args.api or args.fast:  # the preset module is the adapter, pointed at PATH
            args.impl = select_preset(args.api, args.impl, args.fast)
        load_adapter(args.impl)  # one clear line now, rather than a pytest usage error
    except AdapterError as err:
        print(f"cnn-oracle: error: {err}", file=sys.stderr)
        return 2
    import pytest

    # --assert=plain: the checks fail with their own messages, and the adapter (imported
    # above) could not be rewritten anyway. -rE only: the plugin's summary lists failed
    # and not-provided checks (grouped by reason), -rs would list every skip location.
    pytest_args = ["--pyargs", "oracle_tests.checks", "-p", "no:cacheprovider", "-q", "-rE"]
    pytest_args += ["--assert=plain", "--rootdir", str(Path(__file__).resolve().parents[1])]
    pytest_args += ["--impl", args.impl or DEFAULT_IMPL]
    for flag, value in (("--oracle-json", args.json), ("--oracle-markdown", args.markdown)):
        if value:
            pytest_args += [flag, value]
    if args.xfails:
        pytest_args += ["--xfails", args.xfails]
    if args.require_all:
        pytest_args += ["--require-all"]
    pytest_args += ["--oracle-timeout", str(args.timeout)]
    code = int(pytest.main(pytest_args + extra))
    if code in (0, 1):
        return code
    if code == 5:
        print(
            "cnn-oracle: error: no check was selected (check the pytest arguments)", file=sys.stderr
        )
    return 2 if code in (4, 5) else code


if __name__ == "__main__":
    sys.exit(main())
