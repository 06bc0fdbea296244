/** Invalid resource input; the message names the object and the offending field. */
export class ResourceError extends Error {
  override readonly name = 'ResourceError';
}
