"""course_utils: the helper package of the wafer-map defect classification course.

Import the submodules you need, e.g.::

    from course_utils.core import env
    from course_utils.training import engine
    from course_utils.classification import data

The module map is in CONTRIBUTING.md; every notebook uses only this package's
public functions, so a notebook shows the idea and the package holds the machinery.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]
