/** Who is calling. `tenant` groups users for accounting (metrics, limits); it defaults to the user. */
export interface Principal {
  user: string;
  tenant: string;
  tier?: string;
  groups: string[];
  method: 'api-key' | 'jwt' | 'oauth2' | 'anonymous';
  /** Request headers the router consumed (the credential it verified, cookies): removed before self-hosted pods. */
  consumedHeaders?: string[];
}

export type AuthFailure = {
  ok: false;
  status: 401 | 403 | 503;
  /** OpenAI-style error code for the response body. */
  code: string;
  /** Client-facing message; never contains the credential. */
  message: string;
  /** Fine-grained cause, the `reason` label of the failure metric. */
  reason: string;
  /** Response headers to add (`www-authenticate` on 401). */
  headers: Record<string, string>;
};

export type AuthResult = { ok: true; principal: Principal } | AuthFailure;

/** Reads a Kubernetes Secret's decoded data; undefined when it does not exist (yet). */
export type GetSecret = (namespace: string, name: string) => Record<string, string> | undefined;
