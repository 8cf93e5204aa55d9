"""Course website build time: ``course_utils.tools.site.build_site`` from an executed run folder.

Measures the whole build (reading the run folder, staging the pages, Sphinx + MyST-NB with
``--jobs`` processes, copying MathJax) into a temporary folder, end to end, and reports the page
count, the wall time and the CPU time of the Sphinx process tree. Goal: <= 120 s for the whole
site (every notebook and solution) from a smoke run folder on 2 cores. On a machine shared with
other jobs the wall time is inflated; the CPU time says how much of it was the build's own work.

    python benchmarks/bench_site.py                          # from runs/smoke (the README's main command)
    python benchmarks/bench_site.py --run-dir RUN --jobs 2   # from any executed run folder
    python benchmarks/bench_site.py --quick                  # three notebooks only
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from course_utils.tools import nbtools
from course_utils.tools import site as course_site

GOAL_S = 120.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=course_site.DEFAULT_RUN_DIR, help="executed run folder")
    parser.add_argument("--jobs", type=int, default=2, help="Sphinx processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="three notebooks and their solutions")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if not (run_dir / "summary.json").is_file():
        print(f"--run-dir {run_dir}: no summary.json; run the course first "
              f"(python -m course_utils run --jobs 2 --output-dir {course_site.DEFAULT_RUN_DIR})", file=sys.stderr)
        return 2
    notebooks = nbtools.notebook_paths(["00", "07", "13", "07_metrics_evaluation_solutions"]) if args.quick else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        start = time.perf_counter()
        result = course_site.build_site(run_dir, Path(tmp) / "html", notebooks=notebooks, jobs=args.jobs)
        wall = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(result.out).rglob("*") if p.is_file())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    notebook_pages = len(notebooks) if notebooks else len(nbtools.notebook_paths(solutions=True))
    print(course_site.format_site_summary(result))
    print(f"\nsite build from {run_dir} with --jobs {args.jobs}: {result.pages} HTML pages "
          f"({notebook_pages} notebook/solution pages), {size / 1e6:.1f} MB")
    print(f"wall {wall:.1f} s (goal <= {GOAL_S:.0f} s for the whole site on 2 cores: "
          f"{'met' if wall <= GOAL_S else 'NOT met'}), Sphinx CPU {cpu:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
