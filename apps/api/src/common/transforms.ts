import { normalizePair } from '@pairwatch/contracts';

/** class-transformer helper: upper-cases a pair when it is a string, leaves anything else for the validators. */
export const upperCasePair = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? normalizePair(value) : value;

/** Query strings arrive as text: turns a plain whole number into a number, leaves the rest to be refused. */
export const queryInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d{1,9}$/.test(value) ? Number(value) : value;
