/** Invalid router configuration; the message names the offending key. Stops the router at start. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
