"""JupyterLab's "Check my grade" button and the warm self-check service behind it.

- ``service``: a Jupyter server extension. ``GET /dlcourse/check`` says whether the service runs; ``POST
  /dlcourse/check`` with ``{"path": ..., "warm": true}`` prepares a notebook's chapter and starts the kernels of
  its next check, and without ``warm`` grades the notebook as ``dlcourse check`` does (``dlcourse.selfcheck``)
  and answers with its table as plain data.
- ``client``: ``dlcourse check``'s side: the service of a running JupyterLab whose folder holds the notebook.
- ``labextension/``: the front-end extension (the button), prebuilt from the repository's ``labextension/``
  (``make labextension``).

Both are installed with the course (``make install``: a link to ``labextension/`` and the server extension
enabled in the venv; a wheel: its data files). ``DLCOURSE_CHECK_SERVICE=off`` turns the service off (the
classroom's servers: no warm kernels per student); the button then does not appear.
"""

def _jupyter_server_extension_points():
    return [{"module": "dlcourse.lab"}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "dlcourse-lab"}]


def _load_jupyter_server_extension(serverapp):
    from . import service

    service.load(serverapp)
