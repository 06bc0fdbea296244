export { KubernetesSource, type KubernetesSourceOptions } from './source.js';
export { kubernetesCliOptions, kubernetesOptionsFromCli, type KubernetesCliValues } from './cli.js';
