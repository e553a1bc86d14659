import { Inject, Injectable } from '@nestjs/common';
import { tickerPath } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';

export class UpholdUnavailableError extends Error {
  override readonly name = 'UpholdUnavailableError';
}

const CHECK_TIMEOUT_MS = 5000;

/** The API's one door to Uphold: it only asks whether a pair exists before a worker is started for it. */
@Injectable()
export class UpholdClient {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** true when the ticker knows the pair, false on 404; throws UpholdUnavailableError otherwise. */
  async pairExists(pair: string): Promise<boolean> {
    let response: Response;
    try {
      response = await fetch(`${this.config.upholdApiUrl}${tickerPath(pair)}`, {
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
        headers: { accept: 'application/json' },
      });
    } catch (error) {
      throw new UpholdUnavailableError(
        `could not reach the Uphold ticker to check ${pair}: ${(error as Error).message}`,
      );
    }
    await response.body?.cancel();
    if (response.ok) return true;
    if (response.status === 404) return false;
    if (response.status === 429) {
      throw new UpholdUnavailableError('the Uphold ticker is rate limiting pairwatch; try again later');
    }
    throw new UpholdUnavailableError(`the Uphold ticker answered ${response.status} when checking ${pair}`);
  }
}
