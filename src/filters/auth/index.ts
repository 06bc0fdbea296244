// Auth filter: API keys, JWT (JWKS or static keys), OAuth 2.0 introspection, and model authorization.
export { Authenticator } from './authenticator.js';
export { authorize } from './authorize.js';
export { parseAuthConfig, parseAuthorization, sha256Hex } from './config.js';
export type { AuthConfig, AuthorizationConfig, AuthorizationRule } from './config.js';
export { ConfigError } from './config-reader.js';
export type { AuthFailure, AuthResult, GetSecret, Principal } from './types.js';
