"""The papermill engine of the instructor's runner: nbclient without its imitation of the Output widget.

To show what an ipywidgets ``Output`` widget captures (``widgets.interactive`` draws its figure into one),
nbclient imitates a browser: from the task that reads the kernel's IOPub messages it sends the widget's new
state back to the kernel on the shell channel, while another task waits on that same channel for the cell's
reply. The two sometimes race and the reply is only seen when the wait times out: notebook 08's widget cell
ran 0.5 s in the kernel and took 60 s (the smoke cell limit) in a smoke run; without a cell limit it can
block (jupyter/nbclient issue #312). Without the imitation nothing is sent while a cell runs, and what an
Output widget captures stays an ordinary output of its cell, so the executed copy shows the figure.
Students' JupyterLab and Colab are not affected: they are real frontends.

The kernel is stopped at once after the last cell (nbclient's ``shutdown_kernel="immediate"``: SIGKILL to
its process group). A graceful shutdown adds nothing to the executed copy or the notebook's files, which are
complete when the last cell ends, and costs 1-3 s per notebook on 2 cores: a kernel that imported torch and
pandas takes that long to exit (jupyter_client waits up to 2.5 s, then sends SIGTERM).
"""
from __future__ import annotations

import logging

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

__all__ = ["ENGINE_NAME", "KitNotebookClient"]

#: Name under which the engine is registered with papermill (``pm.execute_notebook(..., engine_name=...)``).
ENGINE_NAME = "course_utils"


class KitNotebookClient(PapermillNotebookClient):
    """papermill's notebook client with no widget model imitated (``widget_registry`` empty), whose kernel is
    stopped at once after the last cell (``shutdown_kernel="immediate"`` unless given)."""

    def __init__(self, nb_man, km=None, **kw):
        kw.setdefault("shutdown_kernel", "immediate")
        super().__init__(nb_man, km=km, **kw)
        self.widget_registry = {}


class _KitEngine(NBClientEngine):
    """papermill's nbclient engine, running :class:`KitNotebookClient`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        papermill_timeout = kwargs.pop("timeout", None)
        for unused in ("input_path", "startup_timeout"):      # papermill's own names; start_timeout is used
            kwargs.pop(unused, None)
        return KitNotebookClient(nb_man, kernel_name=kernel_name, timeout=execution_timeout or papermill_timeout,
                                 startup_timeout=start_timeout,
                                 log=logging.getLogger("papermill"), log_output=log_output, stdout_file=stdout_file,
                                 stderr_file=stderr_file, **kwargs).execute()


papermill_engines.register(ENGINE_NAME, _KitEngine)
