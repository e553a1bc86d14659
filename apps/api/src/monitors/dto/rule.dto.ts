import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions, getSchemaPath } from '@nestjs/swagger';
import { MONITOR_LIMITS, PRICE_FIELDS, RULE_KINDS, RULE_LIMITS, RuleKind } from '@pairwatch/contracts';

/**
 * The OpenAPI description of a rule (docs/RULES.md): a discriminated union on `kind`, one schema per kind with
 * its fields and the options every kind shares. For the document only: a request's rules are checked by the
 * contracts' parseRulesInput (one schema for the API and the worker), which names each bad field by its path.
 */

/** A plain decimal without a sign (the contracts' DECIMAL_PATTERN, which the rule schema also requires positive). */
const POSITIVE_DECIMAL = '^\\d{1,30}(\\.\\d{1,30})?$';

/** A decimal as a rule takes it: a string such as "0.5" (exact), or a JSON number. */
const decimal = (description: string, example: string): ApiPropertyOptions => ({
  description: `${description} A decimal string such as "${example}" or a number; at most ${RULE_LIMITS.significantDigits} significant digits.`,
  oneOf: [{ type: 'string', pattern: POSITIVE_DECIMAL }, { type: 'number' }],
  example,
});

const kind = (value: RuleKind, description: string) =>
  ApiProperty({ enum: [value], description: `\`${value}\`: ${description}`, example: value });

const threshold = (what: string) =>
  ApiProperty({
    ...decimal(`${what} (above 0, at most ${RULE_LIMITS.thresholdPercent.max}).`, '1.5'),
  });

/** The options every kind shares. */
export abstract class RuleOptionsDto {
  @ApiPropertyOptional({
    description: 'Assigned (r1, r2, …) when absent; kept across edits.',
    pattern: RULE_LIMITS.id.source,
    example: 'r1',
  })
  id?: string;

  @ApiPropertyOptional({
    enum: PRICE_FIELDS,
    default: 'ask',
    description: 'The price watched: ask, bid or mid = (ask + bid) / 2.',
  })
  priceField?: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: RULE_LIMITS.cooldownMs.min,
    maximum: RULE_LIMITS.cooldownMs.max,
    default: RULE_LIMITS.cooldownMs.default,
    description: 'No alert of this rule sooner than this many milliseconds after its previous one.',
  })
  cooldownMs?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: RULE_LIMITS.maxFires.min,
    maximum: RULE_LIMITS.maxFires.max,
    description: 'After this many alerts the rule is done.',
  })
  maxFires?: number;

  @ApiPropertyOptional({
    type: 'string',
    format: 'date-time',
    description: 'The rule is done from this instant on (ISO-8601 with an offset, in the future).',
  })
  expiresAt?: string;

  @ApiPropertyOptional({ maxLength: RULE_LIMITS.label.max, description: 'A name shown with its alerts.' })
  label?: string;
}

export class MoveRuleDto extends RuleOptionsDto {
  @kind(
    'move',
    'the price moved by thresholdPercent from the reference (the first price, then each firing price).',
  )
  kind: 'move';

  @threshold('The move, in percent')
  thresholdPercent: string;

  @ApiPropertyOptional({ enum: ['both', 'up', 'down'], default: 'both' })
  direction?: string;
}

export class CrossRuleDto extends RuleOptionsDto {
  @kind('cross', 'the price reached level from the other side; re-armed once back past the rearm band.')
  kind: 'cross';

  @ApiProperty(decimal('The level crossed (above 0).', '100000'))
  level: string;

  @ApiPropertyOptional({ enum: ['both', 'up', 'down'], default: 'both' })
  direction?: string;

  @ApiPropertyOptional({
    ...decimal(
      `The re-arm band, in percent of level (0, the default, to below ${RULE_LIMITS.rearmPercent.maxExclusive}).`,
      '0.5',
    ),
    default: '0',
  })
  rearmPercent?: string;
}

export class WindowRuleDto extends RuleOptionsDto {
  @kind('window', "the price is thresholdPercent above the window's min (up) or below its max (down).")
  kind: 'window';

  @threshold('The move within the window, in percent')
  thresholdPercent: string;

  @ApiProperty({
    type: 'integer',
    minimum: MONITOR_LIMITS.intervalMs.min,
    maximum: RULE_LIMITS.windowMs.max,
    description: "The window's length in milliseconds: at least the monitor's intervalMs, at most 24 h.",
    example: 900_000,
  })
  windowMs: number;

  @ApiPropertyOptional({ enum: ['both', 'up', 'down'], default: 'both' })
  direction?: string;
}

export class TrailingRuleDto extends RuleOptionsDto {
  @kind('trailing', 'the price is thresholdPercent below the running peak (down) or above the trough (up).')
  kind: 'trailing';

  @threshold('The distance from the peak (trough), in percent')
  thresholdPercent: string;

  @ApiPropertyOptional({ enum: ['down', 'up'], default: 'down' })
  direction?: string;
}

export class SpreadRuleDto extends RuleOptionsDto {
  @kind('spread', '(ask − bid) / mid × 100 reached thresholdPercent; re-armed once below it.')
  kind: 'spread';

  @threshold('The spread, in percent of mid')
  thresholdPercent: string;
}

/** One schema per kind, in RULE_KINDS order. */
export const RULE_SCHEMAS = {
  move: MoveRuleDto,
  cross: CrossRuleDto,
  window: WindowRuleDto,
  trailing: TrailingRuleDto,
  spread: SpreadRuleDto,
} as const satisfies Record<RuleKind, unknown>;

export const RULE_DTOS = RULE_KINDS.map((k) => RULE_SCHEMAS[k]);

/** `rules` in a request body: 1 to 10 of the union, discriminated by `kind`. */
export function rulesProperty(description?: string): ApiPropertyOptions {
  return {
    type: 'array',
    minItems: RULE_LIMITS.rules.min,
    maxItems: RULE_LIMITS.rules.max,
    ...(description ? { description } : {}),
    items: {
      oneOf: RULE_DTOS.map((dto) => ({ $ref: getSchemaPath(dto) })),
      discriminator: {
        propertyName: 'kind',
        mapping: Object.fromEntries(RULE_KINDS.map((k) => [k, getSchemaPath(RULE_SCHEMAS[k])])),
      },
    },
  };
}
