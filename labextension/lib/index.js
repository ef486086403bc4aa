// "Check my grade": a button in the toolbar of each of the course's chapter notebooks. It saves the notebook,
// asks the warm self-check service (dlcourse.lab.service, POST /dlcourse/check) to grade it as
// `dlcourse check` does, and shows the per-exercise table in a dialog. Every text of the answer is put in
// the page as text (textContent), never as HTML: a failure message may quote the learner's own output.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

const PATH = 'dlcourse/check';

async function call(body) {
  const settings = ServerConnection.makeSettings();
  const init = body === undefined ? { method: 'GET' } : { method: 'POST', body: JSON.stringify(body) };
  const response = await ServerConnection.makeRequest(URLExt.join(settings.baseUrl, PATH), init, settings);
  let data = {};
  try {
    data = await response.json();
  } catch (err) {
    data = {};
  }
  if (!response.ok) {
    throw new Error(data.error || data.message || `the check service answered ${response.status}`);
  }
  return data;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function points(x) {
  return Number.isInteger(x) ? String(x) : Number(x).toFixed(1);
}

// The dialog's body: the summary, then one row per exercise (points, passed or FAILED, what failed).
function reportWidget(report) {
  const body = element('div', undefined, 'dlcourse-check-report');
  body.appendChild(element('p', `${report.chapter}: ${report.status}, ${points(report.score)} / ${points(report.max_score)} points`,
    'dlcourse-check-summary'));
  if (report.detail) body.appendChild(element('p', report.detail, 'dlcourse-check-detail'));
  const table = element('table');
  table.style.borderCollapse = 'collapse';
  const head = element('tr');
  for (const title of ['exercise', 'points', 'result']) {
    const th = element('th', title);
    th.style.textAlign = 'left';
    head.appendChild(th);
  }
  table.appendChild(head);
  for (const row of report.exercises) {
    const tr = element('tr', undefined, row.passed ? 'dlcourse-passed' : 'dlcourse-failed');
    const cells = [element('td', row.exercise), element('td', `${points(row.score)} / ${points(row.points)}`),
      element('td', row.passed ? 'passed' : 'FAILED')];
    if (row.message) {
      const message = element('div', row.message, 'dlcourse-check-message');
      message.style.whiteSpace = 'pre-wrap';
      message.style.color = 'var(--jp-ui-font-color2)';
      cells[2].appendChild(message);
    }
    if (!row.passed) cells[2].style.color = 'var(--jp-error-color1)';
    for (const td of cells) {
      td.style.verticalAlign = 'top';
      td.style.padding = '2px 12px 2px 0';
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  body.appendChild(table);
  if (report.visible_only) {
    body.appendChild(element('p', 'Visible tests only: the hidden tests stay with your instructor, so your grade may be lower than this.'));
  }
  const widget = new Widget({ node: body });
  return widget;
}

function checkButton(context) {
  const node = element('button', 'Check my grade', 'jp-ToolbarButtonComponent jp-mod-minimal jp-Button dlcourse-check-button');
  node.title = 'Save this notebook and grade it as your instructor will (hidden tests included where your course has them)';
  const button = new Widget({ node });
  node.addEventListener('click', async () => {
    if (node.disabled) return;
    node.disabled = true;
    node.textContent = 'Checking…';
    let title, body;
    try {
      await context.save();
      const report = await call({ path: context.path });
      title = `Your grade: ${points(report.score)} / ${points(report.max_score)}`;
      body = reportWidget(report);
    } catch (err) {
      title = 'The check did not run';
      body = new Widget({ node: element('p', err.message || String(err), 'dlcourse-check-error') });
    } finally {
      node.disabled = false;
      node.textContent = 'Check my grade';
    }
    await showDialog({ title, body, buttons: [Dialog.okButton({ label: 'Close' })] });
  });
  return button;
}

const plugin = {
  id: 'dlcourse-lab:check',
  description: "The course's 'Check my grade' button",
  autoStart: true,
  activate: app => {
    const service = call().catch(() => ({ enabled: false }));
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel, context) => {
        // Only a notebook the service can grade (a chapter of the course) gets the button; asking for that
        // also starts the kernels of its first check.
        Promise.all([service, context.ready])
          .then(([status]) => (status.enabled ? call({ path: context.path, warm: true }) : null))
          .then(answer => {
            if (answer && !panel.isDisposed) panel.toolbar.insertItem(10, 'dlcourse-check', checkButton(context));
          })
          .catch(() => undefined);
      }
    });
  }
};

export default plugin;
