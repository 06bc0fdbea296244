import type { PluginFactory } from './types.js';

/** Plugins register here by the names users write in the scheduler configuration. */
const factories = new Map<string, PluginFactory>();

export function registerPlugin(name: string, factory: PluginFactory): void {
  if (factories.has(name)) throw new Error(`scheduler plugin "${name}" registered twice`);
  factories.set(name, factory);
}

export function pluginFactory(name: string): PluginFactory | undefined {
  return factories.get(name);
}

export function registeredPlugins(): string[] {
  return [...factories.keys()].sort();
}
