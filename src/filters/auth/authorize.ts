import type { AuthorizationConfig } from './config.js';
import type { Principal } from './types.js';

// Which principals may call which models. Rules whose `models` globs match the model apply; with none applying the
// default policy decides. A principal is allowed when it matches any applying rule; a rule matches when every subject
// list it sets (users, groups, tiers, tenants) contains the principal's value. A rule with no subject lists lets
// everyone, anonymous callers included, use its models.

export function authorize(principal: Principal, model: string, config: AuthorizationConfig): boolean {
  const applying = config.rules.filter((r) => r.modelMatchers.some((m) => m.test(model)));
  if (applying.length === 0) return config.defaultPolicy === 'allow';
  return applying.some(
    (r) =>
      (r.users.length === 0 || r.users.includes(principal.user)) &&
      (r.groups.length === 0 || r.groups.some((g) => principal.groups.includes(g))) &&
      (r.tiers.length === 0 || (principal.tier !== undefined && r.tiers.includes(principal.tier))) &&
      (r.tenants.length === 0 || r.tenants.includes(principal.tenant)),
  );
}
