import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { ConfigError, loadConfig } from './config/app.config';
import { WorkerRuntime } from './runtime/worker-runtime';

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bufferLogs: true,
    bodyParser: false,
  });
  configureApp(app);
  const logger = new Logger('Bootstrap');

  // Say at once when workers could not be started, rather than at the first POST /monitors.
  try {
    await app.get(WorkerRuntime).ensureReady();
  } catch (error) {
    logger.warn(`workers cannot be started yet: ${(error as Error).message}`);
  }

  await app.listen(config.port, config.host);
  const url = (await app.getUrl()).replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  logger.log(
    `pairwatch API listening on ${url} (HOST=${config.host}) — Swagger UI at ${url}/docs (runtime: ${config.workerRuntime})`,
  );
}

bootstrap().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`pairwatch: ${error.message}`);
  } else {
    console.error('pairwatch: the API could not start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
