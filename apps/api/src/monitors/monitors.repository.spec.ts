import { planFits } from '@pairwatch/contracts';
import { admissionPlans, UpstreamBudget } from './monitors.repository';

const usd = (n: number, intervalMs = 5000) =>
  Array.from({ length: n }, (_, i) => ({ pair: `C${String(i).padStart(3, '0')}-USD`, intervalMs }));

const budget = (values: Partial<UpstreamBudget> = {}): UpstreamBudget => ({
  limitPerMin: 250,
  relay: true,
  pairEndpointOnly: [],
  ...values,
});

/** Admission, the pure part: the plans of the active monitors and of them with the candidate. */
describe(admissionPlans.name, () => {
  it.each<
    [
      string,
      ReturnType<typeof usd>,
      { pair: string; intervalMs: number },
      UpstreamBudget,
      number,
      number,
      boolean,
    ]
  >([
    // [case, active, candidate, budget, used/min, planned/min, admitted]
    [
      'relay off: one request per pair per interval (today: the 21st at 5 s is refused)',
      usd(20),
      { pair: 'XRP-USD', intervalMs: 5000 },
      budget({ relay: false }),
      240,
      252,
      false,
    ],
    [
      'relay off: a slower candidate fits in what is left',
      usd(20),
      { pair: 'XRP-USD', intervalMs: 10_000 },
      budget({ relay: false }),
      240,
      246,
      true,
    ],
    [
      'relay on: 300 USD pairs at 5 s are one list, 12/min',
      usd(299),
      { pair: 'XRP-USD', intervalMs: 5000 },
      budget(),
      12,
      12,
      true,
    ],
    [
      'relay on: a faster candidate makes its list refresh faster',
      usd(10),
      { pair: 'XRP-USD', intervalMs: 1000 },
      budget(),
      12,
      60,
      true,
    ],
    [
      'relay on: a pair only the pair endpoint knows costs its own requests',
      usd(1),
      { pair: 'ABC-XYZ', intervalMs: 1000 },
      budget({ pairEndpointOnly: ['ABC-XYZ'] }),
      12,
      72,
      true,
    ],
    [
      'relay on: refused when the plan passes the limit',
      usd(1),
      { pair: 'ABC-XYZ', intervalMs: 1000 },
      budget({ limitPerMin: 60, pairEndpointOnly: ['ABC-XYZ'] }),
      12,
      72,
      false,
    ],
    [
      'relay on: the limit itself fits',
      [],
      { pair: 'XRP-USD', intervalMs: 1000 },
      budget({ limitPerMin: 60 }),
      0,
      60,
      true,
    ],
  ])('%s', (_case, active, candidate, given, used, planned, admitted) => {
    const plans = admissionPlans(active, candidate, given);
    expect(plans.used.requestsPerMin).toBeCloseTo(used, 6);
    expect(plans.planned.requestsPerMin).toBeCloseTo(planned, 6);
    expect(planFits(plans.planned, given.limitPerMin)).toBe(admitted);
  });
});
