/** The start-a-monitor form's values and the body it sends to POST /monitors. */

export type FormField =
  'pair' | 'intervalMs' | 'thresholdPercent' | 'priceField' | 'direction' | 'cooldownMs';
const NUMERIC: FormField[] = ['intervalMs', 'thresholdPercent', 'cooldownMs'];
export const EMPTY_MONITOR_FORM: Record<FormField, string> = {
  pair: '',
  intervalMs: '',
  thresholdPercent: '',
  priceField: '',
  direction: '',
  cooldownMs: '',
};

/**
 * What the form sends: the fields filled in, numbers as JSON numbers when they read as one, anything else as
 * typed, so the API (the one judge of input) names the field and what was wrong with it.
 */
export function monitorBody(values: Record<FormField, string>): Record<string, string | number> {
  const body: Record<string, string | number> = {};
  for (const [field, raw] of Object.entries(values) as [FormField, string][]) {
    const text = raw.trim();
    if (text === '') continue;
    const number = Number(text);
    body[field] =
      NUMERIC.includes(field) && /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) && Number.isFinite(number)
        ? number
        : text;
  }
  return body;
}
