"""``python -m course_utils doctor``: check this machine and environment for the course."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils")
    parser.add_argument("command", choices=("doctor",), help="doctor: check the set-up")
    parser.parse_args(argv)
    from course_utils.doctor import main as doctor

    return doctor()


if __name__ == "__main__":
    raise SystemExit(main())
