"""The classroom, end to end, in a real browser: JupyterHub, nbgrader's exchange, the Assignments tab.

`dlcourse classroom`'s hub (classroom/jupyterhub_config.py: DummyAuthenticator, SimpleLocalProcessSpawner,
configurable-http-proxy from npm) on 127.0.0.1, an instructor and three students, driven as people would:
1. the instructor releases ch00_start (`nbgrader release_assignment`, from a plain shell: no venv on PATH);
2. alice logs in through the hub's login page, fetches ch00_start in the Assignments tab, opens it, types
   both answers into their cells, runs the notebook, saves and submits it from the Assignments tab;
3. bob does the same with only the first exercise answered, and checks his notebook with `dlcourse check`
   where there is no course folder (visible tests only, said plainly);
4. carol fetches it and submits it untouched;
5. the instructor collects (`nbgrader collect`), grades (`dlcourse grade submitted`: scores into the
   gradebook, feedback placed for nbgrader), also runs plain `nbgrader autograde`/`generate_feedback` on
   carol (hidden tests must not leak), and hands the feedback back (`nbgrader release_feedback`);
6. each student fetches their feedback in the Assignments tab and opens it: alice has full marks, bob the
   first exercise's points, carol 0; with every request off this machine blocked, the feedback's maths
   renders (MathML) and the page asks the network for nothing;
7. alice cannot reach bob's or the instructor's files through the hub (its API with her own token, bob's
   server URL, the file browser, a path out of her folder), nor from inside her own kernel (not root; bob's
   home, the instructor's course and solutions, this checkout's, the inbound submissions, the classroom's
   settings); the hub's log has no error; the hub stops and leaves nothing running.
Expected points come from the instructor's notebook (its test cells' points), not from the grader.
Screenshots (login page, Assignments tab, feedback, a refused URL) go to tests/browser/screenshots/.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from test_lab import menu

from dlcourse import classroom, notebooks
from dlcourse.sandbox import GIVEN_DIR

CHAPTER = "ch00_start"
ROOT = notebooks.course_root()
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
STUB = "raise NotImplementedError()"
SPAWN_TIMEOUT = 240_000  # ms: a user's server on a loaded 2-core machine
RUN_TIMEOUT = 300  # s to run the notebook (TensorFlow's import alone takes 5-15 s)
BASE_PATH = "/usr/bin:/bin"  # a plain shell: the course's venv is NOT on PATH


# ---------------------------------------------------------------------------- the instructor's notebook


def _source():
    return nbformat.read(notebooks.solution_path(CHAPTER, ROOT), as_version=4)


def answers() -> list[str]:
    """The answer cells of the instructor's notebook, in order, without nbgrader's solution markers."""
    cells = [c for c in _source().cells if notebooks.is_answer_cell(c)]
    return ["\n".join(ln for ln in c.source.splitlines() if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)
            for c in cells]


def exercise_points() -> list[float]:
    """Points per exercise in notebook order: the test cells that follow each answer cell."""
    points = []
    for c in _source().cells:
        if notebooks.is_answer_cell(c):
            points.append(0.0)
        elif notebooks.is_test_cell(c) and points:
            points[-1] += float(c.metadata["nbgrader"]["points"])
    return points


def hidden_test_lines() -> list[str]:
    """A few distinctive lines of each hidden test: none of them may reach a student."""
    lines = []
    for c in _source().cells:
        m = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", c.source, re.S)
        if m:
            body = [ln.strip() for ln in m.group(1).splitlines() if len(ln.strip()) > 25]
            assert body, "a hidden test without a distinctive line: the leak check would check nothing"
            lines += sorted(body, key=len)[-2:]
    assert lines
    return lines


def text_of(page_html: str) -> str:
    """What a reader sees of an HTML page: tags (and so syntax highlighting) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<(style|script)\b.*?</\1>", "", page_html, flags=re.S)))


# ---------------------------------------------------------------------------- the hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory, lab_settings):
    """A classroom folder (outside the course checkout, as a hub's is) and its JupyterHub, logging to
    screenshots/jupyterhub.log. Stopped at the end whatever happens."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    room = classroom.setup(tmp_path_factory.mktemp("classroom"), port=classroom.free_port(), students=["alice", "bob", "carol"])
    for user in (*room.students, room.instructor):  # the browser tests' JupyterLab settings (no windowing...)
        for rel, value in lab_settings.items():
            path = room.home(user) / ".jupyter" / "lab" / "user-settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
    room.own_homes()  # what was just written as root goes to each student's uid
    log = SCREENSHOTS / "jupyterhub.log"
    log.unlink(missing_ok=True)
    running = classroom.Hub(room).start(log=log)
    running.log = log
    try:
        running.wait_ready()
        print(f"\n[classroom] JupyterHub at {room.url}, folder {room.dir}, log {log}")
        yield running
    finally:
        running.stop()


def as_user(room, user: str, *cmd: str, cwd: Path | None = None, timeout: float = 600) -> str:
    """Run a command as ``user`` would in a plain shell: their home, the venv NOT on PATH (commands are
    called by their full path). Returns stdout and stderr; fails the test on a non-zero exit."""
    env = room.user_env(user)
    env["PATH"] = BASE_PATH
    exe = str(Path(room.bin) / cmd[0])
    done = subprocess.run([exe, *cmd[1:]], cwd=cwd or room.home(user), env=env, capture_output=True, text=True,
                          timeout=timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{user}$ {' '.join(cmd)} exited with {done.returncode}:\n{out[-3000:]}"
    return out


def login(browser, room, user: str, screenshot: str | None = None):
    """A fresh browser context; log in through the hub's login page; wait for JupyterLab."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{room.url}/hub/login")
    page.locator("#username_input").wait_for()
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    page.fill("#username_input", user)
    page.fill("#password_input", room.password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=SPAWN_TIMEOUT)
    page.locator(".jp-LabShell").wait_for(timeout=SPAWN_TIMEOUT)
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").wait_for()
    return page


def assignments_tab(page):
    """Nbgrader > Assignment List (the Assignments tab), refreshed."""
    if not page.locator("#nbgrader-assignment-list").is_visible():
        menu(page, "Nbgrader", "Assignment List")
    page.locator("#nbgrader-assignment-list").wait_for()
    page.click("#refresh_assignments_list")
    page.locator("#released_assignments_list_loading").wait_for(state="hidden")
    page.locator("#submitted_assignments_list_loading").wait_for(state="hidden")


def fetch_and_open(page):
    assignments_tab(page)
    page.locator("#released_assignments_list .list_item", has_text=CHAPTER).get_by_role("button", name="Fetch").click()
    row = page.locator("#fetched_assignments_list > .list_item", has_text=CHAPTER)
    row.wait_for()
    row.locator("a.assignment-notebooks-link").click()
    row.locator(".nested_list_item a", has_text=CHAPTER).click()
    page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=120_000)
    cells = len(nbformat.read(notebooks.student_path(CHAPTER, ROOT), as_version=4).cells)
    page.wait_for_function(f"() => document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length >= {cells}", timeout=60_000)


def type_answers(page, texts: list[str]):
    """Replace the first stubs with ``texts``, typed into the cells (select the cell's text, insert)."""
    for text in texts:
        cell = page.locator(".jp-NotebookPanel .jp-CodeCell", has_text=STUB).first
        editor = cell.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(text)
        page.keyboard.press("Escape")  # leave edit mode
    page.wait_for_timeout(300)


def kernel_status(page) -> str:
    """The kernel's status as the status bar shows it ("Python 3 (ipykernel) | Idle")."""
    bar = page.locator(".jp-StatusBar-Widget", has_text="|")
    return bar.first.inner_text() if bar.count() else ""


def run_and_save(page, user: str):
    """Once the kernel is up (Idle in the status bar), Run > Run All Cells; wait until no cell runs and the
    kernel is idle again, then File > Save Notebook."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while "Idle" not in kernel_status(page):
        if time.monotonic() > deadline:
            page.screenshot(path=str(SCREENSHOTS / f"classroom-FAILED-{user}.png"))
            pytest.fail(f"{user}: the kernel did not start within {RUN_TIMEOUT} s (status {kernel_status(page)!r})")
        page.wait_for_timeout(1000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    menu(page, "Run", "Run All Cells")
    page.wait_for_timeout(2000)
    while True:
        prompts = page.eval_on_selector_all(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt", "ps => ps.map(p => p.innerText.trim())")
        if "Idle" in kernel_status(page) and not any(p.startswith("[*") for p in prompts) and re.fullmatch(r"\[\d+\]:?", prompts[0]):
            break
        if time.monotonic() > deadline:
            page.screenshot(path=str(SCREENSHOTS / f"classroom-FAILED-{user}.png"))
            pytest.fail(f"{user}: the notebook still runs after {RUN_TIMEOUT} s: prompts {prompts}, kernel {kernel_status(page)!r}")
        page.wait_for_timeout(1000)
    menu(page, "File", "Save Notebook")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')", timeout=30_000)


def submit(page, screenshot: str | None = None):
    assignments_tab(page)
    row = page.locator("#fetched_assignments_list > .list_item", has_text=CHAPTER)
    row.get_by_role("button", name="Submit").click()
    page.locator("#submitted_assignments_list .list_item", has_text=CHAPTER).first.wait_for(timeout=60_000)
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))


def fetch_feedback(page, user: str, screenshot: str | None = None) -> str:
    """Fetch Feedback in the Assignments tab, follow "(view feedback)", open the HTML file; return the
    feedback's visible text (from JupyterLab's HTML viewer)."""
    assignments_tab(page)
    row = page.locator("#submitted_assignments_list .list_item", has_text=CHAPTER).first
    row.get_by_role("button", name="Fetch Feedback").click()
    link = page.locator("#submitted_assignments_list a", has_text="view feedback").first
    link.wait_for(timeout=60_000)
    link.click()
    item = page.locator(".jp-DirListing-item", has_text=f"{CHAPTER}.html")
    item.wait_for()
    item.dblclick()
    frame = page.frame_locator(".jp-HTMLViewer iframe")
    frame.locator("h4", has_text="Score").first.wait_for(timeout=60_000)
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    return frame.locator("body").inner_text()


# ---------------------------------------------------------------------------- the test


def test_classroom_release_submit_grade_feedback(hub, browser):
    room = hub.room
    points = exercise_points()
    total = sum(points)
    assert len(points) == 2 and len(answers()) == 2, "ch00 has two exercises"
    course = room.course

    # 1. the instructor releases the chapter
    out = as_user(room, room.instructor, "nbgrader", "release_assignment", CHAPTER, cwd=course)
    assert "Released as" in out, out
    print(f"[classroom] released {CHAPTER}")

    # 2.-4. three students: both exercises, the first only, none
    plan = {"alice": answers(), "bob": answers()[:1], "carol": None}
    pages = {}
    for user, typed in plan.items():
        started = time.monotonic()
        page = pages[user] = login(browser, room, user, screenshot="classroom-1-login.png" if user == "alice" else None)
        fetch_and_open(page)
        if typed is not None:
            type_answers(page, typed)
            run_and_save(page, user)
        submit(page, screenshot="classroom-2-assignments.png" if user == "alice" else None)
        print(f"[classroom] {user}: fetched, answered {len(typed or [])} exercise(s), submitted "
              f"({time.monotonic() - started:.0f} s)")

    # the student's own check, where there is no course folder: the notebook's visible tests (every test
    # cell keeps its visible part, so bob's first exercise passes them all), and it says so plainly
    out = as_user(room, "bob", "dlcourse", "check", f"{CHAPTER}/{CHAPTER}.ipynb")
    assert "hidden tests are not available" in out.lower(), out
    assert f"{points[0]:g} / {total:g} points" in out, f"bob's check: expected {points[0]:g} / {total:g}\n{out}"

    # 5. the instructor collects, grades, and hands the feedback back
    out = as_user(room, room.instructor, "nbgrader", "collect", CHAPTER, cwd=course)
    assert all((course / "submitted" / u / CHAPTER / f"{CHAPTER}.ipynb").is_file() for u in plan), out
    started = time.monotonic()
    out = as_user(room, room.instructor, "dlcourse", "grade", "submitted", "--out", "graded", cwd=course)
    print(f"[classroom] dlcourse grade: 3 submissions in {time.monotonic() - started:.0f} s")
    assert "3 graded" in out, out
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # what the formgrader shows
        scores = {s.student_id: (s.score, s.max_score) for s in gb.assignment_submissions(CHAPTER)}
    expected = {"alice": total, "bob": points[0], "carol": 0.0}
    assert scores == {u: (s, total) for u, s in expected.items()}, f"gradebook {scores}, expected {expected}"

    # plain nbgrader on carol's submission, as an instructor may run it: hidden tests must not leak
    as_user(room, room.instructor, "nbgrader", "autograde", CHAPTER, "--student", "carol", "--force", cwd=course)
    as_user(room, room.instructor, "nbgrader", "generate_feedback", CHAPTER, "--student", "carol", "--force", cwd=course)
    plain = (course / "feedback" / "carol" / CHAPTER / f"{CHAPTER}.html").read_text()
    leaked = [ln for ln in hidden_test_lines() if ln in text_of(plain)]
    assert not leaked, f"nbgrader generate_feedback shows hidden test code: {leaked}"
    assert "<math" in plain and "cdnjs" not in plain, "nbgrader's own feedback: MathML, no MathJax CDN"

    out = as_user(room, room.instructor, "nbgrader", "release_feedback", CHAPTER, cwd=course)
    assert out.count("Releasing feedback for student") == 3, out

    # 6. each student fetches the feedback and sees their score
    for user, score in expected.items():
        text = fetch_feedback(pages[user], user, screenshot="classroom-3-feedback.png" if user == "bob" else None)
        assert f"Score: {score:.1f} / {total:.1f}" in text, f"{user}: expected {score:g} / {total:g} in the feedback"
        assert not [ln for ln in hidden_test_lines() if ln in text], f"{user}'s feedback shows hidden test code"
        print(f"[classroom] {user}: feedback shows {score:g} / {total:g}")

    check_feedback_offline(browser, room, pages["bob"])
    check_isolation(room, pages["alice"])
    for page in pages.values():
        page.context.close()


def check_feedback_offline(browser, room, page):
    """The feedback with every request off 127.0.0.1 blocked: its maths renders as MathML (a fraction is
    taller than a letter), and it asks the network for nothing."""
    folder = next((room.home("bob") / CHAPTER / "feedback").iterdir())
    rel = f"{CHAPTER}/feedback/{folder.name}/{CHAPTER}.html"
    context = page.context
    blocked = []

    def offline(route):
        host = re.match(r"\w+://([^/:]+)", route.request.url)
        if host and host.group(1) in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    feedback = context.new_page()
    feedback.goto(f"{room.url}/user/bob/files/{urllib.request.quote(rel)}")
    feedback.locator("h4", has_text="Score").first.wait_for()
    maths = feedback.evaluate("""() => {
        const box = e => e.getBoundingClientRect();
        const all = Array.from(document.querySelectorAll('math'));
        const frac = document.querySelector('math mfrac');
        const letter = document.querySelector('math mi');
        return {count: all.length, empty: all.filter(m => box(m).width === 0 || box(m).height === 0).length,
                fracHeight: frac ? box(frac).height : 0, letterHeight: letter ? box(letter).height : 0,
                tex: (document.body.innerText.match(/\\$[^$\\n]{1,40}\\$/g) || []).slice(0, 3)};
    }""")
    feedback.locator("math mfrac").first.scroll_into_view_if_needed()
    feedback.screenshot(path=str(SCREENSHOTS / "classroom-4-feedback-offline.png"), full_page=False)
    feedback.close()
    context.unroute("**/*")
    assert maths["count"] > 10 and maths["empty"] == 0, f"MathML missing or not laid out: {maths}"
    assert maths["fracHeight"] > 1.5 * maths["letterHeight"] > 0, f"a fraction is not set as one: {maths}"
    assert not maths["tex"], f"raw TeX shown: {maths['tex']}"
    assert not blocked, f"the feedback asked the network for {blocked}"
    print(f"[classroom] feedback offline: {maths['count']} MathML formulas rendered, no network request")


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


# Run in alice's own kernel: what it can open of the machine's files. TARGETS is a JSON dict, name -> path.
PROBE = """
import json, os
seen = {"uid": os.getuid()}
for name, path in json.loads(TARGETS).items():
    try:
        seen[name] = f"listed {len(os.listdir(path))}" if os.path.isdir(path) else f"read {len(open(path, 'rb').read())} B"
    except OSError as err:
        seen[name] = f"refused ({type(err).__name__})"
print("PROBE " + json.dumps(seen))
"""


def run_in_kernel(room, user: str, token: str, code: str, timeout: float = 180) -> str:
    """Start a kernel on ``user``'s server with their token (Jupyter's REST API), run ``code`` over the kernel's
    WebSocket, and return what it printed (an error as "ERROR <name>: <value>")."""
    import uuid

    import websocket  # websocket-client, a dependency of jupyter_server

    base = f"{room.url}/user/{user}/api/kernels"
    req = urllib.request.Request(base, data=b"{}", method="POST",
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
        kernel = json.loads(r.read())["id"]
    ws = websocket.create_connection(f"{base.replace('http://', 'ws://')}/{kernel}/channels",
                                     header=[f"Authorization: token {token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user,
                                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
                            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                            "content": {"code": code, "silent": False, "store_history": False,
                                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append(f"ERROR {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
        raise AssertionError(f"{user}'s kernel did not finish the probe within {timeout:.0f} s: {''.join(out)}")
    finally:
        ws.close()
        urllib.request.urlopen(urllib.request.Request(f"{base}/{kernel}", method="DELETE",  # noqa: S310
                                                      headers={"Authorization": f"token {token}"}), timeout=60)


def check_kernel_isolation(room, token: str):
    """From inside alice's own kernel: she is not root, and of bob's home, the instructor's course and
    solutions, this checkout's solutions and history, the exchange's inbound submissions and the classroom's
    settings, and the course package's copy of an open chapter's solutions (``dlcourse/given/``) she can open nothing,
    while her own notebook opens (else the probe proves nothing)."""
    if not room.isolated:
        assert os.geteuid() != 0 or not shutil.which("bwrap"), "the hub runs as root with bwrap, yet the classroom is not isolated"
        print("[classroom] NOT isolated (not root, or no bwrap): alice's kernel reads what the hub's user can")
        return
    own = room.home("alice") / CHAPTER / f"{CHAPTER}.ipynb"
    targets = {
        "bob's home": room.home("bob"),
        "bob's notebook": room.home("bob") / CHAPTER / f"{CHAPTER}.ipynb",
        "the instructor's course": room.course,
        "the instructor's solution": room.course / "solutions" / CHAPTER / f"{CHAPTER}.ipynb",
        "the gradebook": room.course / "gradebook.db",
        "this checkout's solution": notebooks.solution_path(CHAPTER, ROOT),
        "this checkout's history": ROOT / ".git",
        "the inbound submissions": room.exchange / classroom.COURSE_ID / "inbound",
        "the classroom's settings (the password)": Path(room.dir) / "classroom.json",
        "the hub's database": Path(room.dir) / "jupyterhub.sqlite",
        # a chapter's dlcourse.given module is its solutions: shown once a later chapter is released (only ch00 is)
        "ch01's solutions in dlcourse/given/": GIVEN_DIR / "ch01_gradient_descent.py",
    }
    targets = {name: str(path) for name, path in targets.items() if path.exists()}  # each one is there to be read
    assert len(targets) >= 9, f"the probe's targets are missing on the host: {targets}"
    targets["her own notebook"] = str(own)
    code = f"TARGETS = {json.dumps(json.dumps(targets))}\n{PROBE}"
    printed = run_in_kernel(room, "alice", token, code)
    found = re.search(r"^PROBE (.*)$", printed, re.M)
    assert found, f"the probe printed no result: {printed}"
    seen = json.loads(found.group(1))
    assert seen.pop("her own notebook").startswith("read"), f"alice's kernel cannot read her own notebook: {seen}"
    assert seen.pop("uid") != 0, "alice's kernel runs as root"
    reached = {name: what for name, what in seen.items() if not what.startswith("refused")}
    assert not reached, f"alice's kernel reached {reached}"
    print(f"[classroom] alice's kernel (not root) opens her notebook and none of: {', '.join(seen)}")


def check_isolation(room, page):
    """alice, logged in, tries to reach bob's notebook and the instructor's source through the hub."""
    # her own API token, from the hub's token page, as a user would make one
    page.goto(f"{room.url}/hub/token")
    page.get_by_role("button", name=re.compile("Request new API token", re.I)).click()
    # (the result appears after the click: a predicate that throws while it is not there fails at once, not retries)
    page.wait_for_function("() => (document.querySelector('#token-result')?.textContent || '').trim().length > 20")
    token = page.locator("#token-result").inner_text().strip()
    assert re.fullmatch(r"\w{20,}", token), f"no token shown: {token!r}"
    base = room.url

    status, _ = _get(f"{base}/user/alice/api/contents/{CHAPTER}", token)
    assert status == 200, "alice's token must reach her own files (else the checks below prove nothing)"
    refusals = {
        "the hub's API on bob": f"{base}/hub/api/users/bob",
        "bob's notebook": f"{base}/user/bob/api/contents/{CHAPTER}/{CHAPTER}.ipynb",
        "the instructor's source": f"{base}/user/instructor/api/contents/dlcourse/solutions/{CHAPTER}/{CHAPTER}.ipynb",
        "a path out of her folder": f"{base}/user/alice/api/contents/%2e%2e/bob/{CHAPTER}/{CHAPTER}.ipynb",
    }
    for what, url in refusals.items():
        status, body = _get(url, token)
        assert status in (400, 403, 404), f"alice reached {what}: {url} -> {status}"
        assert "def rel_error" not in body and "BEGIN HIDDEN TESTS" not in body, f"{what}: content leaked"
    check_kernel_isolation(room, token)

    # the file browser: bob's JupyterLab, with alice's cookie
    page.goto(f"{base}/user/bob/lab/tree/{CHAPTER}/{CHAPTER}.ipynb")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / "classroom-5-bob-refused.png"))
    assert page.locator(".jp-LabShell").count() == 0, "alice got a JupyterLab on bob's server"
    assert re.search(r"403|Forbidden|not allowed|Access denied", page.content(), re.I), page.url
    print("[classroom] alice reaches neither bob's files nor the instructor's: hub API, server API, file browser, path")


def test_hub_log_has_no_errors_and_stop_leaves_nothing(hub):
    hub.remember_spawned()
    pids = sorted(hub.seen)
    assert len(pids) >= 4, f"expected the proxy and 3+ user servers to be recorded, got {pids}"
    left = hub.stop()
    assert left == [], f"the hub's own shutdown left {left} running"
    assert not [p for p in pids if classroom.is_running(p)], "a process of the classroom still runs"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", hub.room.port)) != 0, "the hub's port still answers"
    lines = hub.log.read_text(errors="replace").splitlines()
    errors = [ln for ln in lines if re.match(r"\[E |\[C (?!.*Received signal)", ln) or "Traceback (most recent call last)" in ln]
    # JupyterHub logs a refused server access as an error: those of check_isolation's probes are expected
    refused = re.compile(r"\[E .* User <User\(alice\b.*\)> not allowed to access Server at /user/(bob|instructor)/")
    assert [ln for ln in errors if refused.search(ln)], "the isolation probes' refusals are not in the log: was it read?"
    unexpected = [ln for ln in errors if not refused.search(ln)]
    assert not unexpected, "errors in the hub's log:\n" + "\n".join(unexpected[:20])
