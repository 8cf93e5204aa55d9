"""Command line of the course kit: ``python -m course_utils <command>``.

Commands
--------
run         execute notebooks with papermill and print a summary (see runner.py)
notebooks   check notebook hygiene (--check, default) or fix it (--fix)
env         print the environment report and the package check
bundle      build the course bundle (kit wheel + notebooks) for Colab / an LMS, offline
report      write report.md, report.html and results.csv of a run folder (see report.py);
            --paper adds the parts of a paper (see paper.py)
site        build the course website from an executed run folder, offline (see site.py)
"""
from __future__ import annotations

import argparse
import sys


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from course_utils.tools import nbtools

    try:
        paths = nbtools.notebook_paths(args.notebooks)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.fix:
        for path in paths:
            if nbtools.fix_notebook(path):
                print(f"fixed {path.name}")
    problems = [msg for path in paths for msg in nbtools.check_notebook(path)]
    for msg in problems:
        print(msg)
    if not problems:
        print(f"{len(paths)} notebook(s) clean")
    return 1 if problems else 0


def _cmd_env(args: argparse.Namespace) -> int:
    from course_utils.core import env

    if args.write_constraints:
        path = env.write_constraints()
        print(f"wrote {path} ({len(env.read_constraints(path))} pinned distributions)")
        return 0
    with __import__("pandas").option_context("display.max_colwidth", 80):
        print(env.environment_report().to_string(index=False))
    print()
    table = env.check_packages(extras=tuple(env.EXTRA_PACKAGES))
    advice = env.torch_build_advice()
    if advice:
        print(f"\n{advice}")
    drift = env.version_drift()
    if len(drift):
        print(f"\n{len(drift)} package(s) differ from the versions the kit was tested with ({env.CONSTRAINTS_FILE.name}):")
        print(drift.to_string(index=False))
        print('Usually harmless; if a notebook fails, install the tested set: '
              f'python -m pip install -e ".[dev]" -c {env.CONSTRAINTS_FILE} '
              "(on Colab keep Colab's torch: the kit pins only what Colab lacks).")
    return 0 if (table["status"] != "FAIL").all() else 1


def build_parser() -> argparse.ArgumentParser:
    from course_utils.tools.runner import add_run_arguments

    parser = argparse.ArgumentParser(prog="course_utils", description="Wafer-map course kit tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill and summarise")
    add_run_arguments(run)
    nb = sub.add_parser("notebooks", help="check (default) or fix notebook hygiene")
    nb.add_argument("notebooks", nargs="*", help="notebooks (default: all)")
    mode = nb.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report problems, exit 1 if any (default)")
    mode.add_argument("--fix", action="store_true", help="strip outputs and re-sync bootstrap cell and badge")
    env_cmd = sub.add_parser("env", help="environment report, package check, versions vs the tested ones")
    env_cmd.add_argument("--write-constraints", action="store_true",
                         help="pin the installed [dev] packages as the tested versions (course_utils/constraints.txt)")
    bundle = sub.add_parser("bundle", help="build the course bundle zip (kit wheel + notebooks), offline")
    bundle.add_argument("--output", default="dist", help="folder for the zip (default: dist)")
    from course_utils.tools.paper import add_paper_arguments
    from course_utils.tools.report import add_report_arguments

    report = sub.add_parser("report", help="report.md/html and results.csv of a run folder (--paper: paper parts)")
    add_report_arguments(report)
    add_paper_arguments(report)
    from course_utils.tools.site import add_site_arguments

    add_site_arguments(sub.add_parser("site", help="build the course website from an executed run folder"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        from course_utils.tools.runner import main_run

        return main_run(args)
    if args.command == "notebooks":
        return _cmd_notebooks(args)
    if args.command == "bundle":
        from course_utils.tools.bundle import main_bundle

        return main_bundle(args)
    if args.command == "report":
        from course_utils.tools.report import main_report

        code = main_report(args)
        if args.paper and code != 2:  # the paper parts build on a usable run folder
            from course_utils.tools.paper import main_paper

            return main_paper(args) or code
        return code
    if args.command == "site":
        from course_utils.tools.site import main_site

        return main_site(args)
    return _cmd_env(args)


if __name__ == "__main__":
    sys.exit(main())
