"""JupyterHub configuration of the demo classroom (`make classroom`, and the classroom browser test).

Run by `dlcourse classroom`, which lays out the classroom folder ($DLCOURSE_CLASSROOM: accounts, homes,
nbgrader's exchange, the instructor's course; see src/dlcourse/classroom.py) and starts
`jupyterhub -f classroom/jupyterhub_config.py` in it.

The demo settings need no system accounts and no network: everything on 127.0.0.1, one shared password
(DummyAuthenticator), every user's server a local process with its own home (SimpleLocalProcessSpawner).
When the hub runs as root with bubblewrap, each student's server is jailed (dlcourse.classroom.server_jail):
a uid of its own, only its home and the exchange writable, other homes and the course not there at all.
The production settings are beside each one, commented out.
"""

import json
import os
from pathlib import Path

from dlcourse import classroom

c = get_config()  # noqa: F821 - injected by traitlets

room = json.loads((Path(os.environ["DLCOURSE_CLASSROOM"]) / "classroom.json").read_text())
folder = Path(room["dir"])
students = set(room["students"])

# ---- network: the hub, its proxy and the users' servers listen on loopback only
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = room["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = room["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{room['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [room["proxy"]]  # configurable-http-proxy from npm (classroom/package.json)
c.ConfigurableHTTPProxy.pid_file = str(folder / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{folder / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(folder / "jupyterhub_cookie_secret")
# Production: a public host name with TLS (c.JupyterHub.bind_url = "https://hub.example.edu",
# c.JupyterHub.ssl_cert / ssl_key, or TLS at a reverse proxy in front).

# ---- accounts: who may log in
c.JupyterHub.authenticator_class = "dummy"  # any listed name, one shared password: a demo only
c.DummyAuthenticator.password = room["password"]
c.Authenticator.allowed_users = students | {room["instructor"]}
# Production: the school's login. With an LMS (Canvas, Moodle, Blackboard) as an LTI 1.3 tool:
#   pip install jupyterhub-ltiauthenticator
#   c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.authenticator.LTI13Authenticator"
# or with the school's OAuth / OpenID Connect provider:
#   pip install oauthenticator
#   c.JupyterHub.authenticator_class = "generic-oauth"   (or "github", "google", "azuread", ...)
# and c.Authenticator.allowed_users / allowed_groups from the class list.

# ---- servers: one per user, in that user's home
c.JupyterHub.spawner_class = "simple"  # SimpleLocalProcessSpawner: no system users needed...
c.SimpleLocalProcessSpawner.home_dir_template = str(folder / "homes" / "{username}")
# ...and, unless the classroom is isolated (below, per_user_arguments), no isolation: every server runs as the
# hub's Unix user, so a kernel can read other homes. Production: each student a system user (c.JupyterHub.spawner_class = "localprocess", with
# c.LocalAuthenticator.create_system_users = True), or a container per student:
#   pip install dockerspawner; c.JupyterHub.spawner_class = "docker"
#   c.DockerSpawner.image = "<an image with `pip install dlcourse` (this course's package), no course folder>"
#   c.DockerSpawner.volumes = {"/srv/nbgrader/exchange": "/srv/nbgrader/exchange"}
# or on Kubernetes, KubeSpawner (Zero to JupyterHub), with the exchange on a shared volume.
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "PATH": os.pathsep.join([room["bin"], "/usr/local/bin", "/usr/bin", "/bin"]),  # the course's venv first
    "LANG": os.environ.get("LANG", "C.UTF-8"),
    # no warm self-check service (dlcourse.lab) per student: its kernels would hold about 1 GB for each server.
    # A student checks with `dlcourse check` in a terminal or a cell (visible tests only), as before.
    "DLCOURSE_CHECK_SERVICE": "off",
}
c.Spawner.start_timeout = 180  # a loaded 2-core machine
c.Spawner.http_timeout = 120


SERVER = [str(Path(room["bin"]) / "jupyterhub-singleuser")]
ROOM = classroom.Classroom(**room)


def per_user_arguments(spawner):
    """Students get no terminal, and their server runs jailed when the classroom is isolated. The instructor
    keeps a terminal, for nbgrader's commands, and runs as the hub's user."""
    args = ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # no network
    student = spawner.user.name in students
    if student:
        args.append("--ServerApp.terminals_enabled=False")
    if os.getuid() == 0 and not (student and ROOM.isolated):
        args.append("--allow-root")  # the instructor's server in CI and containers
    spawner.cmd = classroom.server_jail(ROOM, spawner.user.name) + SERVER if student and ROOM.isolated else SERVER
    spawner.args = args


c.Spawner.pre_spawn_hook = per_user_arguments
if ROOM.isolated:
    # A jailed student's server sees the dlcourse.given modules of closed chapters only (their solutions), kept up
    # to date as the instructor releases chapters by this managed service (JupyterHub restarts it should it exit).
    c.JupyterHub.services = [{"name": "dlcourse-given",
                              "command": [str(Path(room["bin"]) / "python"), "-m", "dlcourse.classroom", "watch-given",
                                          str(folder)]}]
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True
