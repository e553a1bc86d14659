import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { loadConfig } from './config/app.config';
import { AlertEntity } from './alerts/alert.entity';
import { MonitorEntity } from './monitors/monitor.entity';
import { InitialSchema1764000000000 } from './database/migrations/1764000000000-initial-schema';
import { WorkerSupervision1764100000000 } from './database/migrations/1764100000000-worker-supervision';
import { WorkerExitEntity } from './supervisor/worker-exit.entity';
import { WebhookDeliveryEntity } from './channels/webhook-delivery.entity';
import { WebhookEntity } from './channels/webhook.entity';
import { Webhooks1764300000000 } from './database/migrations/1764300000000-webhooks';
import { MonitorStaleSince1764400000000 } from './database/migrations/1764400000000-monitor-stale-since';
import { SecretsAtRest1765000000000 } from './database/migrations/1765000000000-secrets-at-rest';
import { TickArchive1765100000000 } from './database/migrations/1765100000000-tick-archive';
import { WorkerExitsRole1765180000000 } from './database/migrations/1765180000000-worker-exits-role';
import { Rules1765200000000 } from './database/migrations/1765200000000-rules';
import { Channels1765300000000 } from './database/migrations/1765300000000-channels';
import { MonitorMute1765300000001 } from './database/migrations/1765300000001-monitor-mute';
import { ChannelSendAfter1765300000002 } from './database/migrations/1765300000002-channel-send-after';
import { ChannelDueIndex1765300000003 } from './database/migrations/1765300000003-channel-due-index';
import { ChannelsTable1765300000004 } from './database/migrations/1765300000004-channels-table';
import { SecretBox } from './common/secret-box';
import { useSecretBoxForMigrations } from './database/migration-secrets';

export const ENTITIES = [MonitorEntity, AlertEntity, WorkerExitEntity, WebhookEntity, WebhookDeliveryEntity];
export const MIGRATIONS = [
  InitialSchema1764000000000,
  WorkerSupervision1764100000000,
  Webhooks1764300000000,
  MonitorStaleSince1764400000000,
  SecretsAtRest1765000000000,
  TickArchive1765100000000,
  WorkerExitsRole1765180000000,
  Rules1765200000000,
  Channels1765300000000,
  MonitorMute1765300000001,
  ChannelSendAfter1765300000002,
  ChannelDueIndex1765300000003,
  ChannelsTable1765300000004,
];

/**
 * The one place that says how pairwatch talks to Postgres; used by the API and by the TypeORM CLI (at the top of
 * the API, beside app.module, because it lists every feature's entities). `secrets`:
 * the box the migrations seal plain-text rows with (none needed where there are none).
 */
export function dataSourceOptions(databaseUrl: string, secrets?: SecretBox): DataSourceOptions {
  useSecretBoxForMigrations(secrets);
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    extra: {
      max: 10,
      connectionTimeoutMillis: 5000,
      // A connection once open stays open (node-postgres closed those idle for 10 s): after an idle spell the
      // first burst of alerts reopened up to ten at once (a backend forked and authenticated each), on the
      // path of the first claims and sends. Ten connections of a replica idle are nothing to Postgres.
      idleTimeoutMillis: 0,
    },
  };
}

/**
 * For the TypeORM CLI (`npm run migration:run`, `npm run migration:generate`), which awaits each export of
 * this file: the configuration (DATABASE_URL, through the API's own loader) is read only then, so that the
 * API importing this file for dataSourceOptions reads nothing here, and a bad variable is the CLI's error.
 */
const migrationsDataSource: PromiseLike<DataSource> = {
  then: (onFulfilled, onRejected) =>
    Promise.resolve()
      .then(() => {
        const config = loadConfig();
        const { key, previousKey } = config.secrets;
        return new DataSource(
          dataSourceOptions(config.databaseUrl, key ? new SecretBox(key, previousKey) : undefined),
        );
      })
      .then(onFulfilled, onRejected),
};
export default migrationsDataSource;
