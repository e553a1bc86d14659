import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import type { NextFunction, Request, Response } from 'express';
import { HttpException } from '@nestjs/common';
import { AllExceptionsFilter, bodyParserError } from './common/all-exceptions.filter';
import { createValidationPipe } from './common/validation';
import { serveDashboard } from './dashboard/dashboard-static';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { PairwatchMetrics } from './telemetry/pairwatch-metrics';

/** Largest JSON body accepted; a monitor is a few hundred bytes. */
export const BODY_LIMIT = '16kb';

/** Everything main.ts and the e2e suites both need: one place, so tests run the API as it ships. */
export function configureApp(app: INestApplication): void {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  // First, so that every answer is timed, those of the body parser, guards and filters included.
  express.use(httpMetricsMiddleware(express.get(PairwatchMetrics)));
  express.useBodyParser('json', { limit: BODY_LIMIT });
  // Turn the parser's own errors into HTTP errors here, before Nest rewords a JSON SyntaxError as its raw message.
  express.use((error: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const parsed = bodyParserError(error);
    next(
      parsed
        ? new HttpException({ statusCode: parsed.status, message: [parsed.message] }, parsed.status)
        : error,
    );
  });
  express.disable('x-powered-by');
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());
  app.enableShutdownHooks();
  serveDashboard(express);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('pairwatch')
      .setDescription(
        'Watches currency pairs on the Uphold ticker and records every price oscillation past a threshold. ' +
          'When API_KEY is set, send it in the X-API-Key header.',
      )
      .setVersion('0.1.0')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'api-key')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
