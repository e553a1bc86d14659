import { Decimal, legacyMoveRule, parseRulesInput, Rule } from '@pairwatch/contracts';
import { refusal } from '../common/validation';
import type { CreateMonitorDto } from './dto/create-monitor.dto';

/** The top-level fields of a create that describe one `move` rule, as before rules existed. */
const LEGACY_FIELDS = ['thresholdPercent', 'priceField', 'direction', 'cooldownMs'] as const;

/**
 * The rules a create asks for: its `rules`, checked by the contracts' parseRulesInput (defaults filled in, ids
 * assigned), or without them the one `move` rule of the top-level fields with today's defaults. Throws the 400
 * of the pipe (each field path with what was wrong) when `rules` is bad or comes with a top-level rule field.
 */
export function rulesOfCreate(dto: CreateMonitorDto, intervalMs: number, now: number): Rule[] {
  if (dto.rules === undefined) {
    return [
      legacyMoveRule({
        thresholdPercent:
          dto.thresholdPercent === undefined ? undefined : new Decimal(dto.thresholdPercent).toFixed(),
        priceField: dto.priceField,
        direction: dto.direction,
        cooldownMs: dto.cooldownMs,
      }),
    ];
  }
  const mixed = LEGACY_FIELDS.filter((field) => dto[field] !== undefined);
  if (mixed.length > 0) {
    throw refusal(
      mixed.map((field) => ({
        field,
        messages: [`${field} cannot be given with rules: put it in each rule instead`],
      })),
    );
  }
  return checkedRules(dto.rules, { intervalMs, now });
}

/** `rules` as a request sent them, checked (parseRulesInput); a 400 naming each bad field path otherwise. */
export function checkedRules(
  input: unknown,
  context: { intervalMs: number; now: number; previousIds?: readonly string[] },
): Rule[] {
  const parsed = parseRulesInput(input, context);
  if (parsed.ok) return parsed.rules;
  throw refusal(parsed.errors.map((e) => ({ field: e.field, messages: [e.message] })));
}
