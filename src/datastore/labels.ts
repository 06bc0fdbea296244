/** True when every selector label is present with the same value (an empty selector matches everything). */
export function matchesLabels(labels: Record<string, string>, selector: Record<string, string>): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}
