"""``python -m packlint.selfcheck``: the self-check without the CLI (same options as ``packlint selfcheck``)."""

import argparse
import sys

from . import run_selfcheck


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m packlint.selfcheck", description=__doc__)
    parser.add_argument("--rule", action="append", help="a rule code or name (repeatable); default: all")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--output-format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    return run_selfcheck(args.rule, device=args.device, output_format=args.output_format)


if __name__ == "__main__":
    sys.exit(main())
