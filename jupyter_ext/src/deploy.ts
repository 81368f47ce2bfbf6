/** The deploy dialog: engine, replicas, CPUs and GPUs (fractions allowed). */
import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { DeployOptions } from './api';

const FIELDS: Array<[keyof DeployOptions, string, string]> = [
  ['engine', 'Engine (empty: automatic)', 'text'],
  ['replicas', 'Replicas', 'number'],
  ['cpu', 'CPUs per replica', 'number'],
  ['gpu', 'GPUs per replica (e.g. 0.5)', 'number']
];

export class DeployForm extends Widget implements Dialog.IBodyWidget<DeployOptions> {
  constructor(modelName: string) {
    super();
    this.addClass('waza-deploy-form');
    const intro = document.createElement('p');
    intro.textContent = `Deploy ${modelName}. If it cannot fit on the cluster, waza says why.`;
    this.node.appendChild(intro);
    for (const [name, label, type] of FIELDS) {
      const row = document.createElement('label');
      row.textContent = label;
      const input = document.createElement('input');
      input.className = 'jp-mod-styled';
      input.name = name;
      input.type = type;
      if (type === 'number') {
        input.min = '0';
        input.step = name === 'replicas' ? '1' : '0.1';
      }
      if (name === 'replicas') {
        input.value = '1';
      }
      row.appendChild(input);
      this.node.appendChild(row);
    }
  }

  getValue(): DeployOptions {
    const value = (name: string) =>
      (this.node.querySelector(`input[name="${name}"]`) as HTMLInputElement).value.trim();
    const num = (name: string) => (value(name) === '' ? undefined : Number(value(name)));
    return {
      engine: value('engine') || undefined,
      replicas: num('replicas'),
      cpu: num('cpu'),
      gpu: num('gpu')
    };
  }
}
