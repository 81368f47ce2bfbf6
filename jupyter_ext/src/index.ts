/** The waza JupyterLab extension: the left sidebar, chat and logs panels, file-browser commands. */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, MainAreaWidget, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { Deployment, Model, SnippetKind, WazaApi, WazaError } from './api';
import { ChatPanel, LogsPanel } from './chat';
import { DeployForm } from './deploy';
import { WazaSidebar } from './panel';

const PLUGIN_ID = 'waza-jupyter:plugin';

export const wazaIcon = new LabIcon({
  name: 'waza:logo',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M3 5h3l2.2 9L11 5h2l2.8 9L18 5h3l-4.3 14h-2.2L12 10.5 9.5 19H7.3z"/></svg>'
});

function errorText(err: unknown): string {
  return err instanceof WazaError ? err.display : String((err as Error)?.message ?? err);
}

async function insertCode(
  app: JupyterFrontEnd,
  tracker: INotebookTracker | null,
  code: string
): Promise<void> {
  let panel: NotebookPanel | null = tracker?.currentWidget ?? null;
  if (!panel) {
    panel = (await app.commands.execute('notebook:create-new', {
      kernelName: 'python3'
    })) as NotebookPanel;
    await panel.context.ready;
  }
  const notebook = panel.content;
  const active = notebook.activeCell;
  if (!active || active.model.sharedModel.getSource().trim()) {
    NotebookActions.insertBelow(notebook);
  }
  notebook.activeCell?.model.sharedModel.setSource(code);
  app.shell.activateById(panel.id);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'waza: models, deployments, vector stores and the catalog in the left sidebar.',
  autoStart: true,
  optional: [ISettingRegistry, INotebookTracker, IFileBrowserFactory, ILayoutRestorer],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null,
    tracker: INotebookTracker | null,
    browsers: IFileBrowserFactory | null,
    restorer: ILayoutRestorer | null
  ) => {
    const serverSettings = ServerConnection.makeSettings();
    const api = new WazaApi({
      baseUrl: serverSettings.baseUrl,
      fetch: (url, init) => ServerConnection.makeRequest(url, init, serverSettings)
    });
    let interval = 10;

    const insertSnippet = (kind: SnippetKind, id: string, extra?: { db?: string }) => {
      api
        .snippet(kind, id, extra)
        .then(code => insertCode(app, tracker, code))
        .catch(err => showErrorMessage('waza: insert code', errorText(err)));
    };

    const sidebar: WazaSidebar = new WazaSidebar(
      api,
      {
        deploy: (model: Model) => void deployDialog(model),
        openChat: (dep: Deployment) => {
          const widget = new MainAreaWidget({ content: new ChatPanel(api, dep) });
          widget.id = `waza-chat-${dep.id}-${Date.now()}`;
          widget.title.label = `Chat: ${dep.m_name}`;
          widget.title.icon = wazaIcon;
          app.shell.add(widget, 'main');
        },
        showLogs: (dep: Deployment) => {
          const widget = new MainAreaWidget({ content: new LogsPanel(api, dep) });
          widget.title.label = `Logs: ${dep.m_name}`;
          widget.title.icon = wazaIcon;
          app.shell.add(widget, 'main');
        },
        insertSnippet
      },
      () => interval
    );
    sidebar.title.icon = wazaIcon;
    sidebar.title.caption = 'waza';
    app.shell.add(sidebar, 'left', { rank: 850 });
    restorer?.add(sidebar, 'waza-sidebar');

    async function deployDialog(model: Model): Promise<void> {
      const result = await showDialog({
        title: `Deploy ${model.name}`,
        body: new DeployForm(model.name),
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Deploy' })]
      });
      if (!result.button.accept || !result.value) {
        return;
      }
      try {
        await api.deploy(model.id, result.value);
        sidebar.refresh();
      } catch (err) {
        await showErrorMessage(`Cannot deploy ${model.name}`, errorText(err));
      }
    }

    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PLUGIN_ID);
        const apply = () => {
          api.apiUrl = String(settings.get('apiUrl').composite || '');
          interval = Number(settings.get('refreshInterval').composite ?? 10);
          sidebar.update();
          sidebar.refresh();
        };
        apply();
        settings.changed.connect(apply);
      } catch (err) {
        console.warn('waza: settings not loaded', err);
      }
    }

    const selectedPath = (): string | null => {
      const item = browsers?.tracker.currentWidget?.selectedItems().next();
      return item && !item.done ? item.value.path : null;
    };

    app.commands.addCommand('waza:refresh', {
      label: 'Refresh the waza panels',
      execute: () => sidebar.refresh()
    });
    app.commands.addCommand('waza:register-model', {
      label: 'Register as model',
      icon: wazaIcon,
      execute: async () => {
        const path = selectedPath();
        if (!path) {
          return;
        }
        try {
          const model = await api.importModel(path);
          sidebar.refresh();
          app.shell.activateById(sidebar.id);
          void showDialog({
            title: 'Model registered',
            body: `${model.name} is in the waza registry.`,
            buttons: [Dialog.okButton()]
          });
        } catch (err) {
          await showErrorMessage('Cannot register the model', errorText(err));
        }
      }
    });
    app.commands.addCommand('waza:register-dataset', {
      label: 'Register dataset',
      icon: wazaIcon,
      execute: async () => {
        const path = selectedPath();
        if (!path) {
          return;
        }
        try {
          const { urn } = await api.registerDataset(path);
          sidebar.refresh();
          app.shell.activateById(sidebar.id);
          void showDialog({ title: 'Dataset registered', body: urn, buttons: [Dialog.okButton()] });
        } catch (err) {
          await showErrorMessage('Cannot register the dataset', errorText(err));
        }
      }
    });
    for (const [command, rank] of [
      ['waza:register-model', 60],
      ['waza:register-dataset', 61]
    ] as const) {
      app.contextMenu.addItem({ command, selector: '.jp-DirListing-item[data-isdir]', rank });
    }
  }
};

export default plugin;
