import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { AlertsModule } from './alerts/alerts.module';
import { ApiKeyGuard } from './common/api-key.guard';
import { logDestination } from './common/log-destination';
import { monitorCreateThrottling } from './common/monitor-create.throttle';
import { MAKE_SECRETS_KEY, SecretBox } from './common/secret-box';
import { APP_CONFIG, AppConfig, ConfigError } from './config/app.config';
import { dataSourceOptions } from './data-source';
import { DatabaseModule } from './database/database.module';
import { HealthController } from './health/health.controller';
import { MetricsModule } from './metrics/metrics.module';
import { MonitorsModule } from './monitors/monitors.module';
import { RedisModule } from './redis/redis.module';
import { RuntimeModule } from './runtime/runtime.module';
import { SupervisorModule } from './supervisor/supervisor.module';
import { TelemetryModule } from './telemetry/telemetry.module';
import { UpholdModule } from './uphold/uphold.module';
import { WebhooksModule } from './channels/webhooks.module';

/** Probes and scrapes, asked every few seconds: logged only when they fail. */
const QUIET_PATHS = new Set(['/health', '/health/live', '/metrics']);

@Module({})
export class AppModule {
  /** The whole API for one validated configuration (tests pass their own). */
  static forRoot(config: AppConfig): DynamicModule {
    if (!config.secrets.key)
      throw new ConfigError(
        `SECRETS_KEY is not set: the API seals webhook secrets and channel tokens with it (AES-256-GCM) — ${MAKE_SECRETS_KEY}, ` +
          'keep it safe and set it for every start (`npm run up` makes a local one in .pairwatch/secrets.key)',
      );
    const secrets = new SecretBox(config.secrets.key, config.secrets.previousKey);
    return {
      module: AppModule,
      global: true,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: [
            {
              level: config.logLevel,
              redact: {
                paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers.cookie'],
                censor: '[redacted]',
              },
              // Requests are logged once, when answered; health probes only when they fail.
              autoLogging: { ignore: (req) => QUIET_PATHS.has(req.url ?? '') },
              quietReqLogger: true,
            },
            // Asynchronous writes to stdout: a line is handed to the kernel at once when no write is in flight,
            // and lines logged while one is are written together by the next (one syscall for many lines).
            logDestination(),
          ],
        }),
        TypeOrmModule.forRoot({ ...dataSourceOptions(config.databaseUrl, secrets), migrationsRun: true }),
        DatabaseModule,
        // No global ThrottlerGuard: only the handlers marked @ThrottleMonitorCreation() are counted.
        ThrottlerModule.forRoot(monitorCreateThrottling(config.monitorCreateLimitPerMin)),
        TelemetryModule,
        RedisModule,
        RuntimeModule,
        UpholdModule,
        MonitorsModule,
        AlertsModule,
        SupervisorModule,
        WebhooksModule,
        MetricsModule,
        TerminusModule,
      ],
      controllers: [HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: SecretBox, useValue: secrets },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
      exports: [APP_CONFIG, SecretBox],
    };
  }
}
